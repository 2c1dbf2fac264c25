// Plays a live HLS or DASH URL in headless Chromium with hls.js or dash.js
// and reports, as one JSON line, how far playback got and every error the
// player raised. Used by the end-to-end tests (cmd/liveorigin) and by hand:
//
//   node check.mjs hls http://127.0.0.1:8080/live/demo/index.m3u8 20
//   node check.mjs dash http://127.0.0.1:8080/live/demo/manifest.mpd 20
//   node check.mjs hls http://127.0.0.1:8080/live/demo/index.m3u8 20 '{"maxLiveSyncPlaybackRate":1.5}'
//
// The optional fourth argument is the player's configuration as JSON: the
// hls.js config object, or dash.js settings (player.updateSettings).
import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const [kind, url, secondsArg, configArg] = process.argv.slice(2);
const seconds = Number(secondsArg || 15);
const config = JSON.parse(configArg || '{}');
if (!['hls', 'dash'].includes(kind) || !url) {
  console.error('usage: node check.mjs hls|dash URL [SECONDS [CONFIG-JSON]]');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const lib = kind === 'hls'
  ? path.join(here, 'node_modules/hls.js/dist/hls.min.js')
  : path.join(here, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
});
try {
  const page = await browser.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { const t=m.text(); if (/Loading|Loaded|REFRESHED|startPosition|seek|Buffered|appended|initPTS|play|attach|Worker|worker|level|track|VIDEO/i.test(t)) console.error((Date.now()%100000)+' '+t.slice(0,260)); });
  await page.setContent('<video id="v" muted playsinline></video>');
  await page.addScriptTag({ path: lib });
  const result = await page.evaluate(async ({ kind, url, seconds, config }) => {
    const video = document.getElementById('v');
    const errors = []; // fatal: playback broke
    const warnings = []; // recovered by the player (e.g. a gap jumped at a reconnect)
    let waiting = 0;
    video.addEventListener('playing', () => { let n=0; const t0=performance.now(); const iv=setInterval(()=>{ const d=window.player.latestLevelDetails; console.log('VIDEO tick dt='+Math.round(performance.now()-t0)+' ct='+video.currentTime.toFixed(3)+' edgeage='+(d.edge+d.age).toFixed(3)+' lat='+(d.edge+d.age-video.currentTime).toFixed(3)+' rs='+video.readyState); if(++n>30) clearInterval(iv); }, 25); const a={w:performance.now(),c:video.currentTime}; setInterval(()=>{const d=window.player.latestLevelDetails; console.log('VIDEO rate wall='+((performance.now()-a.w)/1000).toFixed(2)+' dct/dwall='+((video.currentTime-a.c)/((performance.now()-a.w)/1000)).toFixed(4)+' lat='+(d.edge+d.age-video.currentTime).toFixed(3)+' dropped='+video.getVideoPlaybackQuality().droppedVideoFrames)},5000); }, {once:true}); video.addEventListener('waiting', () => { waiting++; console.log('VIDEO waiting ct='+video.currentTime); }); ['playing','seeking','seeked','loadedmetadata','canplay'].forEach(e=>video.addEventListener(e,()=>console.log('VIDEO '+e+' ct='+video.currentTime+' lat='+(window.player&&window.player.latency))));
    if (kind === 'hls') {
      if (!window.Hls.isSupported()) return { errors: ['hls.js: MSE not supported'] };
      const hls = new window.Hls(config);
      hls.on(window.Hls.Events.ERROR, (_, d) => (d.fatal ? errors : warnings).push(`${d.type}/${d.details}`));
      hls.loadSource(url);
      hls.attachMedia(video);
      window.player = hls;
    } else {
      const player = window.dashjs.MediaPlayer().create();
      player.on('error', (e) => errors.push(`dash.js: ${JSON.stringify(e.error || e).slice(0, 300)}`));
      player.updateSettings(config);
      player.initialize(video, url, true);
      window.player = player;
    }
    if (kind === "hls") video.play().catch(() => {});
    const t0 = performance.now();
    // Wait until the first frame plays, at most 20 s.
    while (video.currentTime === 0 && performance.now() - t0 < 20000) await new Promise((r) => setTimeout(r, 100));
    const startupMs = performance.now() - t0;
    const start = video.currentTime;
    const wallStart = performance.now();
    // Distance from the live edge, sampled every 250 ms: the player's own
    // figure (hls.js: end of the newest part minus the playhead; dash.js:
    // wall clock minus the playhead's availability time).
    const currentLatency = () => (kind === 'hls' ? window.player.latency : window.player.getCurrentLiveLatency());
    const samples = [];
    while (performance.now() - wallStart < seconds * 1000) {
      await new Promise((r) => setTimeout(r, 250));
      const l = currentLatency();
      if (Number.isFinite(l) && l > 0) samples.push(l);
    }
    const played = video.currentTime - start;
    const latency = currentLatency();
    // Settled latency: the samples after the first quarter of the run (the
    // player's start-up catch-up excluded).
    const settled = samples.slice(Math.floor(samples.length / 4)).sort((a, b) => a - b);
    function process_samples(a) { return a.filter((_, i) => i % 4 === 0).map((x) => Math.round(x * 100) / 100); }
    const pick = (q) => (settled.length ? Math.round(settled[Math.min(settled.length - 1, Math.floor(q * settled.length))] * 1000) / 1000 : null);
    const targetLatency = kind === 'hls' ? window.player.targetLatency : window.player.getTargetLiveDelay?.();
    return {
      latencyMedian: pick(0.5), latencyMax: pick(1), targetLatency, samples: process_samples(samples),
      startupMs: Math.round(startupMs), played: Math.round(played * 1000) / 1000, wall: seconds,
      waiting, errors, warnings, latency, width: video.videoWidth, height: video.videoHeight,
      decodedFrames: video.getVideoPlaybackQuality().totalVideoFrames,
      droppedFrames: video.getVideoPlaybackQuality().droppedVideoFrames,
    };
  }, { kind, url, seconds, config });
  result.console = consoleErrors;
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
