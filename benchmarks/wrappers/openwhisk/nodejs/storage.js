'use strict';
// Object storage for benchmarks on OpenWhisk: an S3-compatible store (Minio in SeBS), spoken to
// with Node's own http and crypto (Signature Version 4), so that packages need no S3 SDK. The
// action's default parameters give the address and keys (SEBS_S3_ENDPOINT as http://HOST:PORT,
// SEBS_S3_ACCESS_KEY, SEBS_S3_SECRET_KEY, SEBS_S3_REGION). The API is the one of
// docs/local-protocol.md ("Object storage API for benchmarks"), on the shared `ObjectStore`.

const crypto = require('crypto');
const http = require('http');
const { ObjectStore, notFound } = require('../sebs_storage.js'); // the package root's shared part

const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();
// RFC 3986 encoding: everything but A-Z a-z 0-9 - _ . ~
const encode = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

class storage extends ObjectStore {
  constructor() {
    super();
    const endpoint = process.env.SEBS_S3_ENDPOINT || '';
    if (!endpoint.startsWith('http://')) {
      throw new Error(`SEBS_S3_ENDPOINT is '${endpoint}', not an http:// address: the platform did not configure storage`);
    }
    this.host = endpoint.slice('http://'.length).replace(/\/+$/, '');
    this.accessKey = process.env.SEBS_S3_ACCESS_KEY || '';
    this.secretKey = process.env.SEBS_S3_SECRET_KEY || '';
    this.region = process.env.SEBS_S3_REGION || 'us-east-1';
  }

  // One signed request; resolves to {status, body (Buffer)}.
  _request(method, objectPath, query = [], body = Buffer.alloc(0)) {
    const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const date = now.slice(0, 8);
    const canonicalPath = objectPath.split('/').map(encode).join('/');
    const canonicalQuery = query.map(([k, v]) => [encode(k), encode(v)]).sort().map(([k, v]) => `${k}=${v}`).join('&');
    const payloadHash = sha256(body);
    const signed = 'host;x-amz-content-sha256;x-amz-date';
    const canonical = [method, canonicalPath, canonicalQuery, `host:${this.host}`,
      `x-amz-content-sha256:${payloadHash}`, `x-amz-date:${now}`, '', signed, payloadHash].join('\n');
    const scope = `${date}/${this.region}/s3/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', now, scope, sha256(canonical)].join('\n');
    let key = `AWS4${this.secretKey}`;
    for (const part of [date, this.region, 's3', 'aws4_request']) key = hmac(key, part);
    const signature = crypto.createHmac('sha256', key).update(toSign).digest('hex');
    const [hostname, port] = this.host.split(':');
    const options = {
      method,
      hostname,
      port: Number(port || 80),
      path: canonicalPath + (canonicalQuery ? `?${canonicalQuery}` : ''),
      headers: {
        Host: this.host,
        'x-amz-date': now,
        'x-amz-content-sha256': payloadHash,
        'Content-Length': body.length,
        Authorization: `AWS4-HMAC-SHA256 Credential=${this.accessKey}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
      },
    };
    return new Promise((resolve, reject) => {
      const req = http.request(options, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  _check(reply, bucket, key) {
    if (reply.status === 404) throw notFound(`object '${key}' not found in bucket '${bucket}'`);
    if (reply.status >= 300) throw new Error(`S3 ${reply.status} for '${key}' in bucket '${bucket}': ${reply.body.toString().slice(0, 300)}`);
  }

  // Stores `data` (Buffer or string) under exactly `key`.
  async writeObject(bucket, key, data) {
    this._check(await this._request('PUT', `/${bucket}/${key}`, [], Buffer.from(data)), bucket, key);
    return key;
  }

  async readObject(bucket, key) {
    const reply = await this._request('GET', `/${bucket}/${key}`);
    this._check(reply, bucket, key);
    return reply.body;
  }

  // Every key of `bucket` starting with `prefix` (ListObjectsV2, all pages), sorted.
  async listDirectory(bucket, prefix) {
    const keys = [];
    let token = null;
    for (;;) {
      const query = [['list-type', '2'], ['prefix', prefix || '']];
      if (token) query.push(['continuation-token', token]);
      const reply = await this._request('GET', `/${bucket}`, query);
      this._check(reply, bucket, prefix);
      const text = reply.body.toString('utf8');
      const unescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
      for (const m of text.matchAll(/<Key>(.*?)<\/Key>/g)) keys.push(unescape(m[1]));
      const next = text.match(/<NextContinuationToken>(.*?)<\/NextContinuationToken>/);
      token = next ? next[1] : null;
      if (!text.includes('<IsTruncated>true</IsTruncated>') || !token) return keys.sort();
    }
  }
}

exports.storage = storage;
