// A browser terminal: xterm.js bound to a websocket that speaks terminado's
// JSON frames (["stdin", data], ["set_size", rows, cols], ["stdout", text]),
// the protocol Jupyter's named terminals use, so a shell outlives the tab.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import "@xterm/xterm/css/xterm.css";

type ServerFrame = ["stdout", string] | ["setup", unknown] | ["disconnect", number];

export interface MountedTerminal {
  terminal: Terminal;
  dispose(): void;
}

/** Opens a terminal in `host`, connected to the websocket at `url`. */
export function mountTerminal(host: HTMLElement, url: string): MountedTerminal {
  const terminal = new Terminal({ cursorBlink: true, convertEol: false, fontSize: 14 });
  const fit = new FitAddon();
  terminal.loadAddon(fit);
  terminal.open(host);
  fit.fit();

  const socket = new WebSocket(new URL(url, window.location.href).href.replace(/^http/, "ws"));
  const send = (frame: unknown[]) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  };
  socket.addEventListener("open", () => send(["set_size", terminal.rows, terminal.cols]));
  socket.addEventListener("message", (event: MessageEvent<string>) => {
    const frame = JSON.parse(event.data) as ServerFrame;
    if (frame[0] === "stdout") terminal.write(frame[1]);
    if (frame[0] === "disconnect") terminal.write("\r\n[the terminal was closed]\r\n");
  });
  socket.addEventListener("close", () => host.classList.add("disconnected"));

  const input = terminal.onData((data) => send(["stdin", data]));
  const resize = terminal.onResize(({ rows, cols }) => send(["set_size", rows, cols]));
  const observer = new ResizeObserver(() => fit.fit());
  observer.observe(host);

  return {
    terminal,
    dispose() {
      observer.disconnect();
      input.dispose();
      resize.dispose();
      socket.close();
      terminal.dispose();
    },
  };
}
