'use strict';
// Azure Blob storage for benchmarks, over the Blob REST API with Node's own fetch and crypto.
//
// A bucket is a blob container. The account and its key come from the app setting
// STORAGE_CONNECTION_STRING (AccountName=...;AccountKey=...;BlobEndpoint=...), which sebs sets;
// requests are signed with Shared Key. No Azure SDK is packaged into the function.

const crypto = require('crypto');

const { ObjectStore, notFound } = require('../sebs_storage.js'); // the package root's shared part

const VERSION = '2021-08-06';

function parseConnectionString(text) {
  const fields = Object.fromEntries(
    text.split(';').filter((p) => p.includes('=')).map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]),
  );
  if (!fields.AccountName || !fields.AccountKey) throw new Error('STORAGE_CONNECTION_STRING has no AccountName or AccountKey');
  const endpoint = fields.BlobEndpoint
    || `${fields.DefaultEndpointsProtocol || 'https'}://${fields.AccountName}.blob.${fields.EndpointSuffix || 'core.windows.net'}`;
  return [fields.AccountName, Buffer.from(fields.AccountKey, 'base64'), endpoint.replace(/\/+$/, '')];
}

function xmlText(text) {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

class storage extends ObjectStore {
  constructor() {
    super();
    const text = process.env.STORAGE_CONNECTION_STRING;
    if (!text) throw new Error('STORAGE_CONNECTION_STRING is not set: sebs did not configure storage');
    [this.account, this.key, this.endpoint] = parseConnectionString(text);
    this.basePath = new URL(this.endpoint).pathname.replace(/\/+$/, ''); // "/devstoreaccount1" on azurite
  }

  _sign(method, pathname, query, headers) {
    const canonicalHeaders = Object.keys(headers).filter((h) => h.startsWith('x-ms-')).sort()
      .map((h) => `${h}:${headers[h]}\n`).join('');
    const resource = `/${this.account}${pathname}`
      + Object.keys(query).sort().map((name) => `\n${name.toLowerCase()}:${query[name]}`).join('');
    const length = headers['content-length'] && headers['content-length'] !== '0' ? headers['content-length'] : '';
    const fields = [method, '', '', length, '', headers['content-type'] || '', '', '', '', '', '', ''];
    const text = `${fields.join('\n')}\n${canonicalHeaders}${resource}`;
    return `SharedKey ${this.account}:${crypto.createHmac('sha256', this.key).update(text, 'utf8').digest('base64')}`;
  }

  async _request(method, container, blob, query = {}, body = undefined, extra = {}) {
    let pathname = `${this.basePath}/${encodeURIComponent(container)}`;
    if (blob !== undefined) pathname += `/${blob.split('/').map(encodeURIComponent).join('/')}`;
    const headers = {
      'x-ms-date': new Date().toUTCString(),
      'x-ms-version': VERSION,
      'content-length': String(body ? body.length : 0),
      ...extra,
    };
    headers.authorization = this._sign(method, pathname, query, headers);
    const url = new URL(this.endpoint);
    url.pathname = pathname;
    url.search = new URLSearchParams(query).toString();
    const reply = await fetch(url, { method, headers, body });
    const bytes = Buffer.from(await reply.arrayBuffer());
    if (reply.status === 404) throw notFound(`${method} ${container}/${blob || ''}: not found (${reply.headers.get('x-ms-error-code')})`);
    if (!reply.ok) throw new Error(`Blob storage ${method} ${container}/${blob || ''}: HTTP ${reply.status}: ${bytes.toString().slice(0, 500)}`);
    return bytes;
  }

  // Stores `data` (a Buffer or a string) under exactly `key`.
  async writeObject(bucket, key, data) {
    const body = Buffer.from(data);
    // An explicit content type, so that the signed one is the one sent.
    await this._request('PUT', bucket, key, {}, body, { 'x-ms-blob-type': 'BlockBlob', 'content-type': 'application/octet-stream' });
    return key;
  }

  // The object's bytes; an ENOENT error when it does not exist.
  async readObject(bucket, key) {
    return this._request('GET', bucket, key);
  }

  // Every key of `bucket` starting with `prefix` (a string prefix), sorted.
  async listDirectory(bucket, prefix) {
    const keys = [];
    let marker = '';
    do {
      const query = { restype: 'container', comp: 'list', prefix: prefix || '' };
      if (marker) query.marker = marker;
      const xml = (await this._request('GET', bucket, undefined, query)).toString();
      for (const match of xml.matchAll(/<Name>([^<]*)<\/Name>/g)) keys.push(xmlText(match[1]));
      const next = /<NextMarker>([^<]*)<\/NextMarker>/.exec(xml);
      marker = next ? xmlText(next[1]) : '';
    } while (marker);
    return keys.sort();
  }
}

exports.storage = storage;
