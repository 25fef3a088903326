// The console's one script (served from /static/console.js; the CSP allows no other): copy
// buttons for the values an admin pastes into their IdP, and a confirmation before a
// destructive action (a button with data-confirm). Every page works without it.
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
