// The console's one script (served from /static/console.js; the CSP allows no other): copy
// buttons for the values an admin pastes into their IdP, a confirmation before a
// destructive action (a button with data-confirm), and a file input that fills a text field
// (data-fill: the IdP metadata file into the paste box). Every page works without it, but
// for the file, which can then be pasted.
document.addEventListener('click', (event) => {
  const button = event.target.closest('button.copy');
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  field.select();
  const done = () => {
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  };
  if (navigator.clipboard) {
    navigator.clipboard.writeText(field.value).then(done, () => document.execCommand('copy') && done());
  } else if (document.execCommand('copy')) {
    done();
  }
});

document.addEventListener('submit', (event) => {
  const message = event.submitter && event.submitter.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

document.addEventListener('change', (event) => {
  const input = event.target;
  if (!input.dataset || !input.dataset.fill || !input.files || !input.files[0]) return;
  const target = document.getElementById(input.dataset.fill);
  if (!target) return;
  input.files[0].text().then((text) => { target.value = text; });
});
