// Live pages: an element with data-live="/url" follows that Server-Sent Events stream. Each "patch" event carries
// HTML partials with ids: an element replaces the one with its id, or (data-append) adds its children to it.
// The browser's EventSource reconnects by itself and sends Last-Event-ID, so the server replays what was missed.
(function () {
  'use strict';
  function apply(html) {
    var tpl = document.createElement('template');
    tpl.innerHTML = html;
    var nodes = Array.prototype.slice.call(tpl.content.children);
    nodes.forEach(function (node) {
      // Table rows travel wrapped in <table><tbody> so the parser keeps them.
      if (node.tagName === 'TABLE') {
        Array.prototype.slice.call(node.querySelectorAll('tr[id]')).forEach(replace);
        return;
      }
      if (node.hasAttribute('data-append')) {
        var target = document.getElementById(node.id);
        if (!target) return;
        // Follow the newest lines only when the reader is already at the bottom (measured before adding).
        var atBottom = target.scrollHeight - target.scrollTop - target.clientHeight < 40;
        Array.prototype.slice.call(node.children).forEach(function (child) {
          var id = child.getAttribute('data-event-id');
          if (id && target.querySelector('[data-event-id="' + id + '"]')) return;
          target.appendChild(child);
        });
        while (target.children.length > 500) target.removeChild(target.firstElementChild);
        if (atBottom) target.scrollTop = target.scrollHeight;
        return;
      }
      replace(node);
    });
  }
  function replace(node) {
    var old = node.id && document.getElementById(node.id);
    if (!old) return;
    // Keep an open <details> (the destroy confirmation) open, and what was typed into it, across updates.
    var open = Array.prototype.map.call(old.querySelectorAll('details[open]'), function (d) {
      return d.querySelector('summary') && d.querySelector('summary').textContent;
    });
    var typed = {};
    Array.prototype.forEach.call(old.querySelectorAll('input[name]:not([type=hidden])'), function (i) {
      typed[i.name] = i.value;
    });
    var focused = document.activeElement && old.contains(document.activeElement) ? document.activeElement.name : null;
    old.replaceWith(node);
    Array.prototype.forEach.call(node.querySelectorAll('details'), function (d) {
      var s = d.querySelector('summary');
      if (s && open.indexOf(s.textContent) >= 0) d.open = true;
    });
    Array.prototype.forEach.call(node.querySelectorAll('input[name]:not([type=hidden])'), function (i) {
      if (Object.prototype.hasOwnProperty.call(typed, i.name)) i.value = typed[i.name];
      if (focused && i.name === focused) i.focus();
    });
    if (window.htmx) window.htmx.process(node);
  }
  // "live" while something is happening; "up to date" once the page's subject is at rest (data-busy="false").
  function connected(status) {
    if (!status) return;
    var subject = document.querySelector('[data-busy]');
    status.textContent = subject && subject.getAttribute('data-busy') === 'false' ? 'up to date' : 'live';
    status.className = 'live-status on';
  }
  function follow(el) {
    var status = document.getElementById('live-status');
    var source = new EventSource(el.getAttribute('data-live'));
    source.addEventListener('patch', function (e) {
      apply(e.data);
      document.body.setAttribute('data-last-event-id', e.lastEventId);
      connected(status);
    });
    source.onopen = function () {
      connected(status);
    };
    source.onerror = function () {
      if (status) {
        status.textContent = 'reconnecting…';
        status.className = 'live-status off';
      }
    };
    window.addEventListener('pagehide', function () {
      source.close();
    });
  }
  function init() {
    // A log opens at its newest line.
    Array.prototype.forEach.call(document.querySelectorAll('ul.log'), function (log) {
      log.scrollTop = log.scrollHeight;
    });
    Array.prototype.forEach.call(document.querySelectorAll('[data-live]'), follow);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
