"""NoSQL tables for benchmarks on the local platform (SeBS's `nosql` module).

The platform keeps the tables and serves them on its gateway at $NOSQL_STORAGE_ENDPOINT
(`host:port`, `POST /nosql/<operation>`, see docs/local-protocol.md). A benchmark names a table
as its input.py's allocate_nosql() does (`shopping_cart`); the real name is in
$NOSQL_STORAGE_TABLE_<table>. Keys are (attribute, value) pairs, values strings or numbers.

    from . import nosql
    client = nosql.nosql.get_instance()
    client.insert(table, ("cart_id", c), ("product_id", p), {"price": 1})
    client.get(table, ("cart_id", c), ("product_id", p))        # -> dict, or None if absent
    client.update(table, ("cart_id", c), ("product_id", p), {"price": 2})
    client.query(table, ("cart_id", c), "product_id")           # -> list, by secondary key
    client.delete(table, ("cart_id", c), ("product_id", p))
"""

import http.client
import json
import os


class nosql:
    instance = None

    def __init__(self):
        endpoint = os.environ.get("NOSQL_STORAGE_ENDPOINT")
        if not endpoint:
            raise RuntimeError("NOSQL_STORAGE_ENDPOINT is not set: the local platform did not configure NoSQL")
        self.host, _, port = endpoint.rpartition(":")
        self.port = int(port)
        self._connection = None

    @staticmethod
    def get_instance():
        if nosql.instance is None:
            nosql.instance = nosql()
        return nosql.instance

    @staticmethod
    def _table(table_name):
        variable = f"NOSQL_STORAGE_TABLE_{table_name}"
        if variable not in os.environ:
            raise RuntimeError(f"no NoSQL table {table_name!r}: {variable} is not set (is it in allocate_nosql()?)")
        return os.environ[variable]

    @staticmethod
    def _key(*pairs):
        return {name: value for name, value in pairs if name is not None}

    def _call(self, operation, body):
        payload = json.dumps(body).encode()
        # One kept-alive connection; a connection the gateway closed is reopened once.
        for attempt in (0, 1):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self._connection.request("POST", f"/nosql/{operation}", payload, {"Content-Type": "application/json"})
                response = self._connection.getresponse()
                reply = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self._connection.close()
                self._connection = None
                if attempt:
                    raise
        answer = json.loads(reply or b"{}")
        if response.status != 200:
            raise RuntimeError(f"nosql {operation} on {body.get('table')!r} failed ({response.status}): {answer.get('error')}")
        return answer

    def insert(self, table_name, primary_key, secondary_key, data):
        item = dict(data)
        item.update(self._key(primary_key, secondary_key))
        self._call("insert", {"table": self._table(table_name), "item": item})

    def get(self, table_name, primary_key, secondary_key):
        key = self._key(primary_key, secondary_key)
        return self._call("get", {"table": self._table(table_name), "key": key})["item"]

    def update(self, table_name, primary_key, secondary_key, updates):
        key = self._key(primary_key, secondary_key)
        self._call("update", {"table": self._table(table_name), "key": key, "updates": updates})

    def query(self, table_name, primary_key, _secondary_key_name=None):
        return self._call("query", {"table": self._table(table_name), "value": primary_key[1]})["items"]

    def delete(self, table_name, primary_key, secondary_key):
        key = self._key(primary_key, secondary_key)
        self._call("delete", {"table": self._table(table_name), "key": key})
