// The demo page's script: starts spinner, clock and echo as processes of one Runtime and wires
// their stdio to the page. `?backend=asyncify` (or `jspi`) forces a suspension backend; by
// default the runtime picks JSPI when the browser has it, else Asyncify.
import { QueueInput, Runtime, jspiAvailable, loadModule, spawnProgram } from '/lunatic-runtime.js';

/** Lines kept per panel: the spinner and clock run forever, the page must not grow forever. */
const MAX_LINES = 300;

function chosenBackend() {
  const forced = new URLSearchParams(location.search).get('backend');
  return forced === 'asyncify' || forced === 'jspi' ? forced : 'auto';
}

/** A panel's terminal: appends text (whole lines kept to MAX_LINES) and shows the process state. */
function panel(id) {
  const section = document.getElementById(id);
  const output = section.querySelector('.output');
  const status = section.querySelector('.status');
  const append = (text, className) => {
    const span = document.createElement('span');
    if (className) span.className = className;
    span.textContent = text;
    output.append(span);
    while (output.childNodes.length > MAX_LINES) output.firstChild.remove();
    output.scrollTop = output.scrollHeight;
  };
  const showState = (text, className) => {
    status.textContent = text;
    status.className = `status ${className}`;
  };
  return { section, append, showState };
}

function describeExit(status) {
  if (status.trap) return [`crashed: ${status.trap.message}`, 'crashed'];
  if (status.killed) return ['killed', 'exited'];
  return [`exited (${status.code})`, 'exited'];
}

async function start(runtime, name, options = {}) {
  const view = panel(name);
  const module = await loadModule(`wasm/${name}.inst.wasm`);
  const process = spawnProgram(runtime, module, {
    args: [`${name}.wasm`],
    stdout: (text) => view.append(text),
    stderr: (text) => view.append(text, 'stderr'),
    ...options,
  });
  const refresh = () => {
    if (process.backend) showBackend(process.backend);
    if (process.state === 'exited' || process.state === 'crashed') return;
    view.showState(process.state, process.state);
    view.section.querySelector('.slices')?.replaceChildren(String(process.yields));
  };
  const timer = setInterval(refresh, 250);
  refresh();
  process.exited.then((status) => {
    clearInterval(timer);
    view.showState(...describeExit(status));
  });
  return { process, view };
}

/** Shows the backend the processes actually run on, once the first one has started. */
function showBackend(name) {
  if (document.body.dataset.backend) return;
  const choice = chosenBackend();
  const why =
    choice !== 'auto' ? `(forced by ?backend=${choice})` : name === 'jspi' ? '(this browser has JSPI)' : '(no JSPI in this browser)';
  document.getElementById('backend').textContent = name === 'jspi' ? 'JSPI' : 'Asyncify';
  document.getElementById('backend-why').textContent = why;
  const link = document.getElementById('backend-switch');
  if (choice === 'asyncify') Object.assign(link, { href: '?', textContent: 'automatic choice' });
  else if (!jspiAvailable()) link.remove();
  document.body.dataset.backend = name;
}

function wireEchoForm(input, view) {
  const form = document.getElementById('echo-form');
  const field = document.getElementById('echo-input');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    view.append(`> ${field.value}\n`, 'typed');
    input.push(`${field.value}\n`);
    field.value = '';
  });
  document.getElementById('echo-eof').addEventListener('click', () => {
    input.end();
    for (const element of form.querySelectorAll('input, button')) element.disabled = true;
  });
}

async function main() {
  const runtime = new Runtime({ backend: chosenBackend() });
  const input = new QueueInput();
  await start(runtime, 'spinner');
  await start(runtime, 'clock');
  const echo = await start(runtime, 'echo', { stdin: input });
  wireEchoForm(input, echo.view);
}

main().catch((error) => {
  document.getElementById('backend').textContent = `failed: ${error.message}`;
  document.body.dataset.error = error.message;
});
