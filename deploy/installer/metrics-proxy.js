#!/usr/bin/env node
// @ts-check
/**
 * The installer DaemonSet's metrics sidecar. crimux runs on the host and serves /metrics on 127.0.0.1:9611 by
 * default, which no Prometheus can reach. This process runs in the DaemonSet pod (hostNetwork, so its pod IP is
 * the node IP), listens on LISTEN (POD_IP:9612) and forwards GET/HEAD of exactly /metrics, /healthz and /readyz to
 * UPSTREAM (127.0.0.1:9611): the daemon itself stays on loopback, and nothing else of it is exposed.
 * Plain Node.js without dependencies, so it runs from the image as is.
 */
'use strict';
const http = require('node:http');

const PATHS = new Set(['/metrics', '/healthz', '/readyz']);
const listen = process.env.LISTEN || `${process.env.POD_IP || '0.0.0.0'}:9612`;
const upstream = process.env.UPSTREAM || '127.0.0.1:9611';

/** @param {string} address host:port, IPv6 hosts in brackets */
function split(address) {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`metrics-proxy: "${address}" is not host:port`);
  return { host: m[1] || '0.0.0.0', port: Number(m[2]) };
}

const up = split(upstream);
const server = http.createServer((req, res) => {
  const path = new URL(req.url || '/', 'http://proxy').pathname;
  if ((req.method !== 'GET' && req.method !== 'HEAD') || !PATHS.has(path)) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  const headers = { accept: req.headers.accept || '*/*' };
  const out = http.request(
    { host: up.host, port: up.port, path, method: req.method, headers, timeout: 10_000 },
    (r) => {
      res.writeHead(r.statusCode || 502, { 'content-type': r.headers['content-type'] || 'text/plain' });
      r.pipe(res);
    },
  );
  // Daemon down: 502, so Prometheus records up == 0 for this node and the CrimuxDown alert fires.
  const fail = (/** @type {Error} */ err) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`crimux metrics unreachable at ${upstream}: ${err.message}\n`);
  };
  out.on('timeout', () => out.destroy(new Error('timeout')));
  out.on('error', fail);
  out.end();
});

const l = split(listen);
server.listen(l.port, l.host, () => {
  const a = /** @type {import('node:net').AddressInfo} */ (server.address());
  process.stdout.write(`metrics-proxy listening on ${a.address}:${a.port}, upstream ${upstream}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
