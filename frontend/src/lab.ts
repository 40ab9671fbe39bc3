// Entry point of pages with terminals: mounts one per [data-terminal-url].
import { mountTerminal } from "./terminal";

for (const host of document.querySelectorAll<HTMLElement>("[data-terminal-url]")) {
  mountTerminal(host, host.dataset.terminalUrl!);
}
