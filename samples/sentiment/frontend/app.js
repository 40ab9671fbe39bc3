// The page's only script: ask sentiment, show the polarity, send feedback, list feedback.
// Paths are relative, so the page works wherever it is served (an app tab serves it under a prefix).
// Every failure is shown as it happened (status and the service's own error message).

const $ = (id) => document.getElementById(id);
let last = null;

async function call(path, options) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new Error(`${path}: no answer (${error.message})`);
  }
  const text = await response.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON: shown as text below */ }
  if (!response.ok) {
    const reason = (body && body.error) || text.trim() || response.statusText;
    throw new Error(`${path} answered ${response.status}: ${reason}`);
  }
  return body;
}

function showError(error) {
  $("error").textContent = error.message;
  $("error").hidden = false;
}

function label(polarity) {
  if (polarity >= 0.05) return "Positive";
  if (polarity <= -0.05) return "Negative";
  return "Neutral";
}

async function analyse(event) {
  event.preventDefault();
  $("error").hidden = true;
  $("send").disabled = true;
  try {
    const sentence = $("sentence").value;
    const answer = await call("sentiment", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sentence }),
    });
    last = answer;
    $("label").textContent = label(answer.polarity);
    $("polarity").textContent = answer.polarity.toFixed(3);
    $("marker").style.left = `${((answer.polarity + 1) / 2) * 100}%`;
    $("version").textContent = answer.version || "(unknown)";
    $("thanks").textContent = "";
    $("result").hidden = false;
  } catch (error) {
    $("result").hidden = true;
    showError(error);
  } finally {
    $("send").disabled = false;
  }
}

async function feedback(event) {
  const button = event.target.closest("button[data-correct]");
  if (!button || !last) return;
  try {
    await call("feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        sentence: last.sentence, polarity: last.polarity,
        correct: button.dataset.correct === "true",
      }),
    });
    $("thanks").textContent = "Thanks!";
    await history();
  } catch (error) {
    showError(error);
  }
}

async function history() {
  const list = $("history");
  try {
    const { feedback: entries } = await call("feedback?limit=10");
    list.replaceChildren(...(entries.length ? entries.map((entry) => {
      const item = document.createElement("li");
      item.textContent = `${entry.correct ? "✔" : "✘"} ${entry.sentence} (${entry.polarity})`;
      return item;
    }) : [Object.assign(document.createElement("li"), { className: "empty", textContent: "None yet." })]));
  } catch (error) {
    list.replaceChildren(Object.assign(document.createElement("li"), {
      className: "empty", textContent: `Feedback unavailable: ${error.message}`,
    }));
  }
}

$("analyse").addEventListener("submit", analyse);
$("result").addEventListener("click", feedback);
history();
