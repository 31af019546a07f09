#!/usr/bin/env node
// The container's HEALTHCHECK (Dockerfile): exit 0 when GET /ready answers 200 within 3 s, else 1. It reads PORT and
// CDS_HOST as the service does (an address meaning every interface is reached on 127.0.0.1). Plain JavaScript with
// no dependency: the image has no curl.
'use strict';
const http = require('node:http');

const port = Number(process.env.PORT || 3000);
const host = (process.env.CDS_HOST || '').trim();
const everywhere = ['', '*', '0.0.0.0', '::', '[::]'];
const target = everywhere.includes(host) ? '127.0.0.1' : host.replace(/^\[(.*)\]$/, '$1');

const req = http.get({ host: target, port, path: '/ready', timeout: 3000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => {
  req.destroy();
  process.exit(1);
});
req.on('error', () => process.exit(1));
