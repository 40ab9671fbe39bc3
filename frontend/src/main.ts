// Entry point of every page. Pages stay plain server-rendered HTML; the
// interactive parts live in entry points of their own (lab.ts) so the
// catalog does not download a terminal emulator.
import "./styles.css";

// Copy buttons on code blocks: the block's text, without the button's own label.
document.addEventListener("click", async (event) => {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>("button.copy");
  if (!button) return;
  const code = button.parentElement?.querySelector("pre code");
  if (!code) return;
  try {
    await navigator.clipboard.writeText(code.textContent ?? "");
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy";
  }
  window.setTimeout(() => (button.textContent = "Copy"), 1500);
});

// `labplatform serve --dev`: reload when an author saves a course file.
const devVersionUrl = document.querySelector<HTMLMetaElement>('meta[name="dev-version-url"]')?.content;
if (devVersionUrl) {
  let seen: string | undefined;
  window.setInterval(async () => {
    const response = await fetch(devVersionUrl).catch(() => undefined);
    if (!response?.ok) return;
    const { version } = (await response.json()) as { version: string };
    if (seen !== undefined && version !== seen) window.location.reload();
    seen = version;
  }, 1000);
}

document.documentElement.dataset.ready = "true";
