// Live parts of a page: each element with data-events shows the HTML its server-sent events
// carry (rendered and escaped by the gateway's templates).
(function () {
  document.querySelectorAll('[data-events]').forEach(function (el) {
    var es = new EventSource(el.dataset.events);
    es.onmessage = function (e) { el.innerHTML = e.data; };
  });
})();
