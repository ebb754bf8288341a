'use strict';
// S3 storage for benchmarks on AWS Lambda, through the AWS SDK for JavaScript v3 (part of
// Lambda's Node.js runtimes). The same API as every platform's storage (docs/local-protocol.md).

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const stream = require('stream');
const { S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command } = require('@aws-sdk/client-s3');

function notFound(bucket, key, cause) {
  const err = new Error(`object '${key}' not found in bucket '${bucket}'`);
  err.code = 'ENOENT';
  err.cause = cause;
  return err;
}

class storage {
  constructor() {
    // AWS_ENDPOINT_URL (the SDK reads it) points the client at an emulator in tests.
    this.client = new S3Client({});
  }

  static get_instance() {
    if (!storage.instance) storage.instance = new storage();
    return storage.instance;
  }

  // `dir/name.ext` -> `dir/name.<8 hex chars>.ext`, as SeBS names uploaded objects.
  static unique_name(name) {
    const ext = path.posix.extname(name);
    return `${name.slice(0, name.length - ext.length)}.${crypto.randomBytes(4).toString('hex')}${ext}`;
  }

  async writeObject(bucket, key, data) {
    await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data }));
    return key;
  }

  // Returns [storedKey, promise]; the promise resolves when the object is stored.
  upload(bucket, key, localPath) {
    const stored = storage.unique_name(key);
    const promise = fs.promises.readFile(localPath).then((data) => this.writeObject(bucket, stored, data));
    return [stored, promise];
  }

  // Returns [writable, promise, storedKey]; the object is stored once the writable is ended.
  uploadStream(bucket, key) {
    const stored = storage.unique_name(key);
    const chunks = [];
    const writable = new stream.Writable({
      write(chunk, _encoding, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    });
    const promise = new Promise((resolve, reject) => {
      writable.on('finish', () => this.writeObject(bucket, stored, Buffer.concat(chunks)).then(resolve, reject));
      writable.on('error', reject);
    });
    return [writable, promise, stored];
  }

  async _get(bucket, key) {
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      if (err.name === 'NoSuchKey' || (err.$metadata && err.$metadata.httpStatusCode === 404)) throw notFound(bucket, key, err);
      throw err;
    }
  }

  async download(bucket, key, localPath) {
    const object = await this._get(bucket, key);
    await fs.promises.mkdir(path.dirname(path.resolve(localPath)), { recursive: true });
    await stream.promises.pipeline(object.Body, fs.createWriteStream(localPath));
  }

  async downloadStream(bucket, key) {
    return (await this._get(bucket, key)).Body;
  }

  // Every key of `bucket` starting with `prefix`, sorted.
  async listDirectory(bucket, prefix) {
    const keys = [];
    let token;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || '', ContinuationToken: token }));
      for (const object of page.Contents || []) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }
}

exports.storage = storage;
