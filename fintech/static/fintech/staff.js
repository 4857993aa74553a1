// The staff screens' only script (served from 'self'; the CSP forbids inline script).
// 1. Warns before the idle timeout signs the person out, with a "Stay signed in" button.
// 2. Fills in a form that the idle timeout interrupted, after the person signed in again
//    (accounts/middleware.py keeps the fields; the page carries them as JSON).
(function () {
  "use strict";

  function idleWarning() {
    var session = document.getElementById("staff-session");
    var warning = document.getElementById("session-warning");
    if (!session || !warning) { return; }
    var idle = parseInt(session.dataset.idleSeconds, 10);
    var lead = Math.min(parseInt(session.dataset.warnSeconds, 10), Math.floor(idle / 2));
    var timer = null;
    function arm() {
      warning.hidden = true;
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(function () { warning.hidden = false; }, (idle - lead) * 1000);
    }
    var form = document.getElementById("session-keep-alive");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin"})
        .then(function (response) { if (response.ok) { arm(); } else { window.location.reload(); } });
    });
    arm();
  }

  function restoreForm() {
    var holder = document.getElementById("preserved-form");
    if (!holder) { return; }
    var preserved = JSON.parse(holder.textContent);
    var data = preserved.data || {};
    var form = null;
    Object.keys(data).forEach(function (name) {
      var fields = document.querySelectorAll('[name="' + CSS.escape(name) + '"]');
      var values = data[name];
      fields.forEach(function (field, index) {
        if (field.type === "hidden" || field.type === "submit" || field.type === "file") { return; }
        if (!form) { form = field.form; }
        if (field.type === "checkbox" || field.type === "radio") {
          field.checked = values.indexOf(field.value) !== -1;
        } else if (field.tagName === "SELECT" && field.multiple) {
          Array.prototype.forEach.call(field.options, function (option) { option.selected = values.indexOf(option.value) !== -1; });
        } else if (index < values.length) {
          field.value = values[index];
        }
      });
    });
    if (form) { form.classList.add("form-restored"); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    idleWarning();
    restoreForm();
  });
})();
