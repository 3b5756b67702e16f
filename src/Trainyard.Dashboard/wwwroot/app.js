// Trainyard dashboard: live updates by polling the JSON API, task panel, confirmed actions. No libraries.
(function () {
  'use strict';
  var STATES = { pending: 'pending', ready: 'pending', dispatched: 'running', running: 'running', succeeded: 'succeeded', cached: 'succeeded', failed: 'failed', skipped: 'skipped', cancelled: 'cancelled' };

  function post(url, body) {
    return fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: body || '{}' })
      .then(function (r) { return r.json().then(function (j) { return { status: r.status, body: j }; }); });
  }

  // Buttons with data-action: confirm, POST JSON, say what happened, follow a new run.
  document.querySelectorAll('button[data-action]').forEach(function (b) {
    b.addEventListener('click', function () {
      if (!window.confirm(b.getAttribute('data-confirm'))) { return; }
      var out = document.getElementById('action-result');
      post(b.getAttribute('data-action'), b.getAttribute('data-body')).then(function (r) {
        if (r.status >= 400) { out.textContent = 'refused: ' + (r.body.message || r.status); return; }
        out.textContent = r.status === 201 && r.body.runId ? 'started run ' + r.body.runId : 'done';
        if (r.status === 201 && r.body.runId) { window.location.href = '/runs/' + encodeURIComponent(r.body.runId); }
        else { poll(); }
      }).catch(function (e) { out.textContent = 'failed: ' + e; });
    });
  });

  // Runs list: refresh the rows every 2 s.
  var runs = document.getElementById('runs');
  if (runs) {
    setInterval(function () {
      fetch(runs.getAttribute('data-live'), { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { runs.tBodies[0].innerHTML = html; } });
    }, 2000);
  }

  // Run page: poll the run, update node states, status, error and buttons until it is final.
  var run = document.getElementById('run');
  var timer = null;
  function poll() {
    if (!run) { return; }
    fetch(run.getAttribute('data-api'), { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : null; }).then(function (s) {
      if (!s) { return; }
      var tasks = s.tasks || {};
      document.querySelectorAll('#dag [data-step]').forEach(function (n) {
        var t = tasks[n.getAttribute('data-step')];
        if (t) { n.setAttribute('data-state', STATES[t.status] || 'pending'); }
        var count = n.querySelector('span.items');
        if (count && t && t.items != null) { count.textContent = (t.items - (t.itemsOpen || 0)) + '/' + t.items; }
      });
      document.querySelectorAll('#dag li[data-task]').forEach(function (n) {
        var t = tasks[n.getAttribute('data-task')];
        if (t) { n.setAttribute('data-state', STATES[t.status] || 'pending'); }
      });
      var st = document.getElementById('run-status');
      st.textContent = s.status; st.className = 'status s-' + s.status;
      run.setAttribute('data-status', s.status);
      var err = document.getElementById('run-error');
      if (s.error) { err.textContent = s.error; err.hidden = false; }
      document.getElementById('cancel').disabled = s.status !== 'running';
      document.getElementById('approve').disabled = s.status !== 'running';
      document.getElementById('retry').disabled = !(s.status === 'failed' || s.status === 'cancelled');
      if (s.status !== 'running' && timer) { clearInterval(timer); timer = null; }
    });
  }
  if (run && run.getAttribute('data-status') === 'running') { timer = setInterval(poll, 1000); }

  // Clicking a task (node or foreach item) shows its outputs, artifacts and log.
  if (run) {
    document.getElementById('dag') && document.getElementById('dag').addEventListener('click', function (e) {
      var el = e.target.closest('[data-task]');
      if (!el || (el.tagName === 'DETAILS')) { return; }
      var panel = document.getElementById('task-panel');
      fetch('/runs/' + encodeURIComponent(run.getAttribute('data-run')) + '/tasks/' + encodeURIComponent(el.getAttribute('data-task')), { credentials: 'same-origin' })
        .then(function (r) { return r.text(); }).then(function (html) { panel.innerHTML = html; panel.hidden = false; });
    });
  }
})();
