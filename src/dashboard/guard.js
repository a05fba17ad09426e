// Runs before anything else: records what the self-check reports (errors, blocked
// requests, dialogs). A dialog from the page would mean data ran as code, so alert,
// confirm and prompt are recorded instead of shown.
(function () {
  'use strict';
  var rec = { errors: [], alerts: [], violations: [] };
  window.__cardseg = rec;
  function push(list, text) {
    if (list.length < 50) list.push(String(text).slice(0, 300));
  }
  window.addEventListener('error', function (e) {
    var t = e.target;
    if (t && t !== window && t.tagName) {
      push(rec.errors, 'resource failed: <' + t.tagName.toLowerCase() + '> ' + (t.src || t.href || ''));
    } else {
      push(rec.errors, (e.message || 'error') + (e.lineno ? ' (line ' + e.lineno + ')' : ''));
    }
  }, true);
  window.addEventListener('unhandledrejection', function (e) {
    push(rec.errors, 'unhandled rejection: ' + (e.reason && e.reason.message ? e.reason.message : e.reason));
  });
  document.addEventListener('securitypolicyviolation', function (e) {
    push(rec.violations, e.violatedDirective + ' ' + e.blockedURI);
  });
  var origError = console.error;
  console.error = function () {
    push(rec.errors, 'console.error: ' + Array.prototype.join.call(arguments, ' '));
    return origError.apply(console, arguments);
  };
  ['alert', 'confirm', 'prompt'].forEach(function (name) {
    window[name] = function (msg) {
      push(rec.alerts, name + ': ' + msg);
      return name === 'confirm' ? false : null;
    };
  });
})();
