// Entry point of every page. Pages stay plain server-rendered HTML; the
// interactive parts live in entry points of their own (lab.ts) so the
// catalog does not download a terminal emulator.
import "./styles.css";

document.documentElement.dataset.ready = "true";
