// A browser terminal: xterm.js bound to a named terminal on the server.
// The protocol is documented in terminals/websocket.py (terminado's JSON
// frames plus ping/pong and error). The shell belongs to the session, not
// the tab, so a dropped connection is simply reopened: the server replays
// the recent screen and the learner carries on where they were.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";

type ServerFrame =
  | ["setup", { name: string; replay?: boolean }]
  | ["stdout", string]
  | ["pong"]
  | ["error", string]
  | ["disconnect", number];

const KEEPALIVE_MS = 25_000;
const MAX_BACKOFF_MS = 10_000;

/** What the shell's OSC 133 marks say (see shell_prompt in labplatform/clusters/backend.py). */
export type ShellEvent =
  | { kind: "prompt" } // the main prompt: bash waits for a new command
  | { kind: "continuation" } // the secondary prompt: bash waits for more of one
  | { kind: "finished"; status: number } // a command ended with this exit status
  | { kind: "reconnected" }; // the connection was reopened (marks in its replay are not reported)

export interface MountedTerminal {
  terminal: Terminal;
  /** Type `text` as if the learner had (click-to-run uses this). */
  send(text: string): void;
  /** Call `listener` with each shell-integration mark as it arrives. */
  onShellEvent(listener: (event: ShellEvent) => void): void;
  dispose(): void;
}

/** Opens a terminal in `host`, connected to the websocket at `url`, reconnecting as needed. */
export function mountTerminal(host: HTMLElement, url: string): MountedTerminal {
  const terminal = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
  const fit = new FitAddon();
  terminal.loadAddon(fit);
  terminal.open(host);
  fit.fit();
  // OSC 52: a program in the shell (tmux, vim, `printf '\e]52;c;...\a'`) sets the clipboard.
  terminal.parser.registerOscHandler(52, (data) => {
    const payload = data.slice(data.indexOf(";") + 1);
    if (payload && payload !== "?") {
      try {
        const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
        void navigator.clipboard?.writeText(new TextDecoder().decode(bytes)).catch(() => undefined);
      } catch {
        // not base64: ignore, as terminals do
      }
    }
    return true;
  });

  const listeners: ((event: ShellEvent) => void)[] = [];
  const emit = (event: ShellEvent) => listeners.forEach((listener) => listener(event));
  let replaying = false; // the screen replayed on connecting holds old prompts: not news
  terminal.parser.registerOscHandler(133, (data) => {
    if (replaying) return true;
    const [mark, detail] = data.split(";");
    if (mark === "A") emit({ kind: detail === "k=s" ? "continuation" : "prompt" });
    else if (mark === "D") emit({ kind: "finished", status: Number(detail ?? 0) });
    return true;
  });

  let socket: WebSocket | null = null;
  let backoff = 500;
  let ended = false;
  let disposed = false;
  const frame = (value: unknown[]) => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(value));
  };

  const connect = () => {
    const address = new URL(url, window.location.href);
    address.protocol = address.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(address.href);
    socket.addEventListener("open", () => {
      backoff = 500;
      host.classList.remove("disconnected");
      terminal.reset(); // the server replays the screen
      emit({ kind: "reconnected" });
      frame(["set_size", terminal.rows, terminal.cols]);
    });
    socket.addEventListener("message", (event: MessageEvent<string>) => {
      const message = JSON.parse(event.data) as ServerFrame;
      if (message[0] === "setup") replaying = message[1].replay === true;
      else if (message[0] === "stdout" && replaying)
        terminal.write(message[1], () => (replaying = false));
      else if (message[0] === "stdout") terminal.write(message[1]);
      else if (message[0] === "error") terminal.write(`\r\n\x1b[31m${message[1]}\x1b[0m\r\n`);
      else if (message[0] === "disconnect") {
        ended = true;
        terminal.write(`\r\n[the shell exited with status ${message[1]}]\r\n`);
      }
    });
    socket.addEventListener("close", () => {
      host.classList.add("disconnected");
      if (ended || disposed) return;
      window.setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    });
  };
  connect();

  const input = terminal.onData((data) => frame(["stdin", data]));
  const resize = terminal.onResize(({ rows, cols }) => frame(["set_size", rows, cols]));
  const observer = new ResizeObserver(() => fit.fit());
  observer.observe(host);
  const keepalive = window.setInterval(() => frame(["ping"]), KEEPALIVE_MS);

  return {
    terminal,
    send: (text: string) => frame(["stdin", text]),
    onShellEvent: (listener) => listeners.push(listener),
    dispose() {
      disposed = true;
      window.clearInterval(keepalive);
      observer.disconnect();
      input.dispose();
      resize.dispose();
      socket?.close();
      terminal.dispose();
    },
  };
}
