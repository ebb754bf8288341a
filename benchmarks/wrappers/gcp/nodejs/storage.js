'use strict';
// Google Cloud Storage for benchmarks, over the JSON API with Node's own fetch.
//
// On Cloud Functions the function's service account token comes from the metadata server. With
// STORAGE_EMULATOR_HOST set (http://127.0.0.1:9023), requests go to that emulator without
// credentials, as Google's client libraries do. No Google SDK is packaged into the function.

const crypto = require('crypto');

const { ObjectStore, notFound } = require('../sebs_storage.js'); // the package root's shared part

const METADATA_TOKEN = 'http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token';

class storage extends ObjectStore {
  constructor() {
    super();
    const emulator = process.env.STORAGE_EMULATOR_HOST;
    this.endpoint = (emulator || 'https://storage.googleapis.com').replace(/\/+$/, '');
    this.anonymous = Boolean(emulator);
    this.token = null;
    this.expires = 0;
  }

  async _authorization() {
    if (this.anonymous) return {};
    if (!this.token || Date.now() > this.expires - 60000) {
      const reply = await fetch(METADATA_TOKEN, { headers: { 'Metadata-Flavor': 'Google' } });
      if (!reply.ok) throw new Error(`metadata server token: HTTP ${reply.status}`);
      const token = await reply.json();
      this.token = token.access_token;
      this.expires = Date.now() + token.expires_in * 1000;
    }
    return { Authorization: `Bearer ${this.token}` };
  }

  async _request(method, url, what, body = undefined, headers = {}) {
    const reply = await fetch(url, { method, body, headers: { ...(await this._authorization()), ...headers } });
    const bytes = Buffer.from(await reply.arrayBuffer());
    if (reply.status === 404) throw notFound(`${what}: not found`);
    if (!reply.ok) throw new Error(`Cloud Storage ${method} ${what}: HTTP ${reply.status}: ${bytes.toString().slice(0, 500)}`);
    return bytes;
  }

  _objectUrl(bucket, key) {
    return `${this.endpoint}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(key)}`;
  }

  // Stores `data` (a Buffer or a string) under exactly `key`, as a multipart upload (metadata and
  // content in one request; unlike a media upload, it also stores empty objects on the emulator).
  async writeObject(bucket, key, data) {
    const boundary = crypto.randomBytes(16).toString('hex');
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n${JSON.stringify({ name: key })}\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Type: application/octet-stream\r\n\r\n`),
      Buffer.from(data),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const url = `${this.endpoint}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=multipart`;
    await this._request('POST', url, `${bucket}/${key}`, body, { 'Content-Type': `multipart/related; boundary=${boundary}` });
    return key;
  }

  // The object's bytes; an ENOENT error when it does not exist.
  async readObject(bucket, key) {
    return this._request('GET', `${this._objectUrl(bucket, key)}?alt=media`, `${bucket}/${key}`);
  }

  // Every key of `bucket` starting with `prefix` (a string prefix), sorted.
  async listDirectory(bucket, prefix) {
    const keys = [];
    let token = '';
    do {
      const query = new URLSearchParams({ prefix: prefix || '', fields: 'items(name),nextPageToken' });
      if (token) query.set('pageToken', token);
      const url = `${this.endpoint}/storage/v1/b/${encodeURIComponent(bucket)}/o?${query}`;
      const page = JSON.parse((await this._request('GET', url, `${bucket}/${prefix}*`)).toString());
      for (const item of page.items || []) keys.push(item.name);
      token = page.nextPageToken || '';
    } while (token);
    return keys.sort();
  }
}

exports.storage = storage;
