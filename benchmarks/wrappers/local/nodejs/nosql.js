'use strict';
// NoSQL tables for benchmarks on the local platform (SeBS's `nosql` module).
//
// The platform keeps the tables and serves them on its gateway at $NOSQL_STORAGE_ENDPOINT
// (`host:port`, `POST /nosql/<operation>`, see docs/local-protocol.md). A benchmark names a table
// as its input.py's allocate_nosql() does; the real name is in $NOSQL_STORAGE_TABLE_<table>.
// Keys are [attribute, value] pairs; every method returns a promise.
//
//   const nosql = require('./nosql');
//   const client = nosql.nosql.get_instance();
//   await client.insert(table, ['cart_id', c], ['product_id', p], { price: 1 });
//   await client.get(table, ['cart_id', c], ['product_id', p]);    // -> object, or null if absent
//   await client.update(table, ['cart_id', c], ['product_id', p], { price: 2 });
//   await client.query(table, ['cart_id', c], 'product_id');       // -> array, by secondary key
//   await client.delete(table, ['cart_id', c], ['product_id', p]);

const http = require('http');

class nosql {
  constructor() {
    const endpoint = process.env.NOSQL_STORAGE_ENDPOINT;
    if (!endpoint) throw new Error('NOSQL_STORAGE_ENDPOINT is not set: the local platform did not configure NoSQL');
    const at = endpoint.lastIndexOf(':');
    this.host = endpoint.slice(0, at);
    this.port = Number(endpoint.slice(at + 1));
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  static get_instance() {
    if (!nosql.instance) nosql.instance = new nosql();
    return nosql.instance;
  }

  static _table(tableName) {
    const variable = `NOSQL_STORAGE_TABLE_${tableName}`;
    const real = process.env[variable];
    if (!real) throw new Error(`no NoSQL table '${tableName}': ${variable} is not set (is it in allocate_nosql()?)`);
    return real;
  }

  static _key(...pairs) {
    const key = {};
    for (const pair of pairs) if (pair && pair[0] !== undefined && pair[0] !== null) key[pair[0]] = pair[1];
    return key;
  }

  _call(operation, body) {
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: this.host,
        port: this.port,
        method: 'POST',
        path: `/nosql/${operation}`,
        agent: this.agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': payload.length },
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          let answer;
          try {
            answer = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
          } catch (err) {
            reject(new Error(`nosql ${operation}: the gateway's reply is not JSON: ${err.message}`));
            return;
          }
          if (res.statusCode !== 200) {
            reject(new Error(`nosql ${operation} on '${body.table}' failed (${res.statusCode}): ${answer.error}`));
          } else {
            resolve(answer);
          }
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  async insert(tableName, primaryKey, secondaryKey, data) {
    const item = Object.assign({}, data, nosql._key(primaryKey, secondaryKey));
    await this._call('insert', { table: nosql._table(tableName), item });
  }

  async get(tableName, primaryKey, secondaryKey) {
    const key = nosql._key(primaryKey, secondaryKey);
    return (await this._call('get', { table: nosql._table(tableName), key })).item;
  }

  async update(tableName, primaryKey, secondaryKey, updates) {
    const key = nosql._key(primaryKey, secondaryKey);
    await this._call('update', { table: nosql._table(tableName), key, updates });
  }

  async query(tableName, primaryKey, _secondaryKeyName) {
    return (await this._call('query', { table: nosql._table(tableName), value: primaryKey[1] })).items;
  }

  async delete(tableName, primaryKey, secondaryKey) {
    const key = nosql._key(primaryKey, secondaryKey);
    await this._call('delete', { table: nosql._table(tableName), key });
  }
}

exports.nosql = nosql;
