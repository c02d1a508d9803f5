// Script of the typedoc site (typedoc's `customJs`, copied to assets/custom.js).
//
// Diagrams: typedoc writes a ```mermaid block as <pre><code class="mermaid">, with the source as
// escaped text; on pages that have such a block this script loads Mermaid from the site itself
// (assets/mermaid.min.js, no network) and replaces each block with its diagram. Each diagram's
// container says how it went, for readers and for the browser test:
// data-mermaid-status="rendered" with an <svg> inside, or "error" with the message shown. When all
// blocks are done, <html data-mermaid="done"> is set.
//
// Tables: each is wrapped in a scrolling box, so that a wide table keeps readable columns
// instead of squeezing its descriptions into tall, thin rows (site.css).
(function () {
  'use strict';
  var here = document.currentScript && document.currentScript.src;

  function blocks() {
    return Array.prototype.slice.call(document.querySelectorAll('pre > code.mermaid, pre > code.language-mermaid'));
  }

  function isDark() {
    var theme = document.documentElement.dataset.theme;
    if (theme === 'dark') return true;
    if (theme === 'light') return false;
    return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  }

  function loadMermaid(done) {
    if (window.mermaid) return done(null);
    var script = document.createElement('script');
    script.src = here.replace(/[^/]*$/, 'mermaid.min.js');
    // Mermaid's entity placeholders are non-ASCII: the file must be read as UTF-8.
    script.charset = 'utf-8';
    script.onload = function () { done(null); };
    script.onerror = function () { done(new Error('could not load ' + script.src)); };
    document.head.appendChild(script);
  }

  function fail(container, source, message) {
    container.setAttribute('data-mermaid-status', 'error');
    container.setAttribute('data-mermaid-error', message);
    var note = document.createElement('p');
    note.className = 'mermaid-error';
    note.textContent = 'This diagram could not be drawn: ' + message;
    var pre = document.createElement('pre');
    pre.textContent = source;
    container.appendChild(note);
    container.appendChild(pre);
  }

  function finish() {
    document.documentElement.setAttribute('data-mermaid', 'done');
  }

  function renderAll() {
    var codes = blocks();
    if (codes.length === 0) return finish();
    var jobs = codes.map(function (code) {
      var container = document.createElement('div');
      container.className = 'mermaid-diagram';
      container.setAttribute('data-mermaid-status', 'pending');
      var pre = code.parentElement;
      pre.parentElement.replaceChild(container, pre);
      return { container: container, source: code.textContent };
    });
    loadMermaid(function (err) {
      if (err) {
        jobs.forEach(function (j) { fail(j.container, j.source, err.message); });
        return finish();
      }
      window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: isDark() ? 'dark' : 'default' });
      // One at a time: Mermaid measures text in a shared scratch element.
      var i = 0;
      (function next() {
        if (i >= jobs.length) return finish();
        var job = jobs[i];
        var id = 'mermaid-diagram-' + i;
        i++;
        window.mermaid
          .render(id, job.source)
          .then(function (result) {
            job.container.innerHTML = result.svg;
            // Mermaid scales the drawing down to the column; keep its own size and let the
            // container scroll, so that labels stay readable.
            var svg = job.container.querySelector('svg');
            var box = svg && svg.viewBox && svg.viewBox.baseVal;
            if (box && box.width > 0) {
              svg.style.maxWidth = 'none';
              svg.setAttribute('width', String(box.width));
              svg.setAttribute('height', String(box.height));
            }
            job.container.setAttribute('data-mermaid-status', 'rendered');
          })
          .catch(function (e) {
            // A failed render can leave its scratch element behind.
            var stray = document.getElementById('d' + id);
            if (stray) stray.remove();
            fail(job.container, job.source, (e && e.message) || String(e));
          })
          .then(next);
      })();
    });
  }

  function wrapTables() {
    Array.prototype.forEach.call(document.querySelectorAll('.tsd-typography table'), function (table) {
      if (table.parentElement.classList.contains('table-scroll')) return;
      var box = document.createElement('div');
      box.className = 'table-scroll';
      table.parentElement.insertBefore(box, table);
      box.appendChild(table);
    });
  }

  function start() {
    wrapTables();
    renderAll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
