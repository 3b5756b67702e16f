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
        if (r.status === 201 && r.body.runId) { window.location.href = 'runs/' + encodeURIComponent(r.body.runId); }
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
      // A running durable run reports each step's state in its progress; its tasks come with the final state.
      var tasks = s.tasks || (s.progress && s.progress.steps) || {};
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
      var dur = document.getElementById('run-duration'), from = Date.parse(s.createdAt);
      var to = s.status === 'running' || s.status === 'pending' ? Date.now() : Date.parse(s.lastUpdatedAt);
      if (dur && !isNaN(from) && !isNaN(to)) { dur.textContent = duration((to - from) / 1000); }
      var st = document.getElementById('run-status');
      st.textContent = s.status; st.className = 'status s-' + s.status;
      run.setAttribute('data-status', s.status);
      var err = document.getElementById('run-error');
      if (s.error) { err.textContent = s.error; err.hidden = false; }
      document.getElementById('cancel').disabled = s.status !== 'running';
      document.getElementById('approve').disabled = s.status !== 'running';
      document.getElementById('retry').disabled = !(s.status === 'failed' || s.status === 'cancelled');
      if (s.status !== 'running' && timer) { clearInterval(timer); timer = null; }
      if (s.status !== 'running' && run.getAttribute('data-source') === 'progress') { settle(); }
    });
  }

  // As the server writes durations: 4.2s, 3m07s, 2h05m.
  function duration(sec) {
    sec = Math.max(0, sec);
    if (sec < 60) { return sec.toFixed(1) + 's'; }
    var pad = function (n) { return (n < 10 ? '0' : '') + n; };
    return sec < 3600 ? Math.floor(sec / 60) + 'm' + pad(Math.floor(sec % 60)) + 's' : Math.floor(sec / 3600) + 'h' + pad(Math.floor((sec % 3600) / 60)) + 'm';
  }

  // A page drawn from a durable run's progress takes the foreach items and the timeline from the final page, in place.
  function settle() {
    run.removeAttribute('data-source');
    fetch(window.location.pathname, { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (html === null) { return; }
      var doc = new DOMParser().parseFromString(html, 'text/html');
      ['dag', 'timeline'].forEach(function (id) {
        var now = document.getElementById(id), next = doc.getElementById(id);
        if (now && next) { now.replaceWith(document.importNode(next, true)); }
      });
    });
  }
  if (run && run.getAttribute('data-status') === 'running') { timer = setInterval(poll, 1000); }

  // Clicking a task (node or foreach item) shows its outputs, artifacts and log.
  if (run) {
    run.addEventListener('click', function (e) {
      var el = e.target.closest('#dag [data-task]');
      if (!el || (el.tagName === 'DETAILS')) { return; }
      var panel = document.getElementById('task-panel');
      fetch('runs/' + encodeURIComponent(run.getAttribute('data-run')) + '/tasks/' + encodeURIComponent(el.getAttribute('data-task')), { credentials: 'same-origin' })
        .then(function (r) { return r.text(); }).then(function (html) { panel.innerHTML = html; panel.hidden = false; });
    });
  }
})();
