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

document.documentElement.dataset.ready = "true";
