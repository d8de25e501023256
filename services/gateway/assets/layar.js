// The queue display's voice: every new call, and every recall, is announced aloud in Bahasa
// Indonesia after a chime ("Nomor antrean A-012, silakan ke loket 3"), as waiting rooms do.
// Browsers play sound only after someone touched the page: the screen's "Aktifkan suara"
// button is pressed once when the display is set up. Calls already on the board when the
// page loads are not announced again.
(function () {
  var board = document.getElementById('papan');
  var button = document.getElementById('suara');
  if (!board || !button) return;
  var on = false;
  var seen = {};
  function rows() {
    return Array.prototype.slice.call(board.querySelectorAll('#dipanggil tbody tr[data-panggilan]'));
  }
  function chime() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx();
      [880, 660].forEach(function (f, i) {
        var o = ctx.createOscillator();
        var g = ctx.createGain();
        var t = ctx.currentTime + i * 0.35;
        o.frequency.value = f;
        o.connect(g);
        g.connect(ctx.destination);
        g.gain.setValueAtTime(0.2, t);
        g.gain.exponentialRampToValueAtTime(0.001, t + 0.3);
        o.start(t);
        o.stop(t + 0.32);
      });
    } catch (e) { /* no audio device: the words alone */ }
  }
  function say(r) {
    if (!window.speechSynthesis) return;
    var u = new SpeechSynthesisUtterance(
      'Nomor antrean ' + r.dataset.nomor + ', silakan ke ' + r.dataset.loket.toLowerCase());
    u.lang = 'id-ID';
    u.rate = 0.9;
    window.speechSynthesis.speak(u);
  }
  function update() {
    // Oldest first, so two calls made together are announced in the order they were made.
    rows().reverse().forEach(function (r) {
      var key = r.dataset.panggilan;
      if (seen[key]) return;
      seen[key] = true;
      if (on) { chime(); say(r); }
    });
  }
  update();
  new MutationObserver(update).observe(board, { childList: true, subtree: true });
  button.addEventListener('click', function () {
    on = !on;
    button.textContent = on ? 'Matikan suara' : 'Aktifkan suara';
    button.setAttribute('aria-pressed', on ? 'true' : 'false');
  });
})();
