// make-esim.js N SECRET OUT [ICCIDS] — N distinct signed esim.status deliveries over ICCIDS eSIMs
// (default 10 000), one per line as "<signature> <body>", for post-distinct.lua. In the order
// post-distinct.lua sends them — the warm-up from the end of the file backwards, the measured
// run from the start — each eSIM's statuses come in timestamp order, the run's all newer than the
// warm-up's, except one delivery in 50, which is 5 s older than its eSIM's last one (with
// `latest` or `serial`, a stale delivery: acknowledged, never run).
const crypto = require('crypto');
const fs = require('fs');
const [n, secret, out, iccidsArg] = process.argv.slice(2);
const iccids = Number(iccidsArg || 10000);
const statuses = ['NEW', 'INSTALLED', 'ACTIVATED', 'INACTIVE', 'EXPIRED'];
const fd = fs.openSync(out, 'w');
let chunk = [];
const half = Math.floor(Number(n) / 2);
const runFrom = Math.ceil(half / iccids) + 1;
for (let i = 0; i < Number(n); i++) {
  // Position in its phase's sending order: the run's from the start, the warm-up's from the end.
  const p = i < half ? i : Number(n) - 1 - i;
  // Spread over the eSIMs by a multiplicative hash (a bijection on each round of ICCIDS), so one
  // eSIM's deliveries are not adjacent.
  const e = (p * 2654435761) % iccids;
  const local = Math.floor(p / iccids);
  const round = (i < half ? runFrom : 0) + local;
  const older = p % 50 === 49 && local >= 1;
  const timestamp = 1760000000 + round * 10 - (older ? 15 : 0);
  const iccid = '8944' + String(1000000000000000 + e);
  const status = statuses[(round + (older ? 1 : 0)) % statuses.length];
  const body = `{"event_category":"esim","event_type":"status","data":{"timestamp":${timestamp},"iccid":"${iccid}","esim_id":"esim-${e}","reference_id":"ref-${i}","start":${timestamp},"end":${timestamp + 86400},"status":"${status}"}}`;
  chunk.push(crypto.createHmac('sha256', secret).update(body).digest('hex') + ' ' + body);
  if (chunk.length === 10000) { fs.writeSync(fd, chunk.join('\n') + '\n'); chunk = []; }
}
if (chunk.length) fs.writeSync(fd, chunk.join('\n') + '\n');
fs.closeSync(fd);
