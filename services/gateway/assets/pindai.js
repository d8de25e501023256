// Camera QR scanning where the browser has BarcodeDetector (Chromium on Android and desktop);
// otherwise the code is typed.
(function () {
  if (!('BarcodeDetector' in window) || !navigator.mediaDevices) return;
  var b = document.getElementById('pindai'), v = document.getElementById('kamera');
  b.hidden = false;
  b.onclick = async function () {
    var d = new BarcodeDetector({ formats: ['qr_code'] });
    var s = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
    v.srcObject = s; v.hidden = false; await v.play();
    (async function loop() {
      var c = await d.detect(v).catch(function () { return []; });
      if (c.length) {
        s.getTracks().forEach(function (t) { t.stop(); });
        v.hidden = true;
        document.getElementById('kode').value = c[0].rawValue;
        document.getElementById('form-checkin').submit();
      } else requestAnimationFrame(loop);
    })();
  };
})();
