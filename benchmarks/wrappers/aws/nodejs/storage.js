'use strict';
// S3 storage for benchmarks on AWS Lambda, through the AWS SDK for JavaScript v3 (part of
// Lambda's Node.js runtimes). The same API as every platform's storage (docs/local-protocol.md),
// on the shared `ObjectStore`, whose readers it replaces: downloads stream from S3 rather than
// being held in memory.

const fs = require('fs');
const path = require('path');
const stream = require('stream');
const { S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command } = require('@aws-sdk/client-s3');
const { ObjectStore, notFound } = require('../sebs_storage.js'); // the package root's shared part

class storage extends ObjectStore {
  constructor() {
    super();
    // AWS_ENDPOINT_URL (the SDK reads it) points the client at an emulator in tests.
    this.client = new S3Client({});
  }

  // Stores `data` (Buffer or string) under exactly `key`.
  async writeObject(bucket, key, data) {
    await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: data }));
    return key;
  }

  async _get(bucket, key) {
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      if (err.name === 'NoSuchKey' || (err.$metadata && err.$metadata.httpStatusCode === 404)) {
        const missing = notFound(`object '${key}' not found in bucket '${bucket}'`);
        missing.cause = err;
        throw missing;
      }
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
