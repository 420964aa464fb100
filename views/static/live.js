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
        Array.prototype.slice.call(node.children).forEach(function (child) {
          var id = child.getAttribute('data-event-id');
          if (id && target.querySelector('[data-event-id="' + id + '"]')) return;
          target.appendChild(child);
        });
        while (target.children.length > 500) target.removeChild(target.firstElementChild);
        if (target.scrollHeight - target.scrollTop - target.clientHeight < 120) target.scrollTop = target.scrollHeight;
        return;
      }
      replace(node);
    });
  }
  function replace(node) {
    var old = node.id && document.getElementById(node.id);
    if (!old) return;
    // Keep an open <details> (the destroy confirmation) open across updates.
    var open = Array.prototype.map.call(old.querySelectorAll('details[open]'), function (d) {
      return d.querySelector('summary') && d.querySelector('summary').textContent;
    });
    old.replaceWith(node);
    Array.prototype.forEach.call(node.querySelectorAll('details'), function (d) {
      var s = d.querySelector('summary');
      if (s && open.indexOf(s.textContent) >= 0) d.open = true;
    });
    if (window.htmx) window.htmx.process(node);
  }
  function follow(el) {
    var status = document.getElementById('live-status');
    var source = new EventSource(el.getAttribute('data-live'));
    source.addEventListener('patch', function (e) {
      apply(e.data);
      document.body.setAttribute('data-last-event-id', e.lastEventId);
    });
    source.onopen = function () {
      if (status) {
        status.textContent = 'live';
        status.className = 'live-status on';
      }
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
    Array.prototype.forEach.call(document.querySelectorAll('[data-live]'), follow);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
