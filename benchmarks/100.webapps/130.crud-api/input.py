"""130.crud-api: a shopping cart's REST routes over a NoSQL table.

`generate_input` fills a new cart with four products; the event is a list of requests:
test, one `GET /cart/{id}`; small, one `GET /cart` (the whole cart, with its total and average
price); large, five `PUT /cart` of new products into another new cart, each followed by
`GET /cart`.
"""

import math
import uuid

TABLE = "shopping_cart"
# product id -> item, as SeBS's input puts them in.
PRODUCTS = {
    "game-gothic": {"name": "Gothic Game", "price": 42, "quantity": 2},
    "game-gothic-2": {"name": "Gothic 2", "price": 142, "quantity": 3},
    "sebs-benchmark": {"name": "SeBS Benchmark", "price": 1000, "quantity": 1},
    "mint-linux": {"name": "Mint Linux", "price": 0, "quantity": 5},
}
NEW_ITEMS = 5


def allocate_nosql():
    return {TABLE: {"primary_key": "cart_id", "secondary_key": "product_id"}}


def buckets_count():
    return (0, 0)


def _new_item(i):
    return {"product_id": f"new-id-{i}", "name": f"Test Item {i}", "price": 100 * i, "quantity": i}


def generate_input(data_dir, size, benchmarks_bucket, input_paths, output_paths, upload_func, nosql_func):
    cart = uuid.uuid4().hex
    for product, item in PRODUCTS.items():
        nosql_func("130.crud-api", TABLE, dict(item), ("cart_id", cart), ("product_id", product))
    if size == "test":
        requests = [{"route": "GET /cart/{id}", "path": {"id": "game-gothic"}, "body": {"cart": cart}}]
    elif size == "small":
        requests = [{"route": "GET /cart", "body": {"cart": cart}}]
    else:
        write_cart = uuid.uuid4().hex
        requests = []
        for i in range(NEW_ITEMS):
            requests.append({"route": "PUT /cart", "body": {"cart": write_cart, **_new_item(i)}})
            requests.append({"route": "GET /cart", "body": {"cart": write_cart}})
    return {"requests": requests}


def _summary(items):
    """What `GET /cart` answers for these items."""
    total = sum(i["price"] for i in items)
    quantity = sum(i["quantity"] for i in items)
    return {"products": [i["name"] for i in items], "total_cost": total,
            "avg_price": total / quantity if quantity > 0 else 0.0}


def _same_summary(got, items):
    want = _summary(items)
    return (isinstance(got, dict) and got.get("products") == want["products"]
            and got.get("total_cost") == want["total_cost"]
            and isinstance(got.get("avg_price"), (int, float))
            and math.isclose(got["avg_price"], want["avg_price"], rel_tol=1e-9))


def validate_output(data_dir, input_cfg, output, language, storage=None):
    """One answer per request, each what the cart held: the requested product; the four
    products ordered by id with their total and average price; after the i-th PUT, at least
    products 0..i of the write cart (invocations running at once may add later ones)."""
    answers = output.get("result") if isinstance(output, dict) else None
    requests = input_cfg["requests"]
    if not isinstance(answers, list) or len(answers) != len(requests):
        return False, f"expected {len(requests)} answers, got {answers!r:.200}"
    by_id = sorted(PRODUCTS.items())
    written = []
    for n, (request, answer) in enumerate(zip(requests, answers)):
        route, body = request["route"], request["body"]
        if route == "GET /cart/{id}":
            product = request["path"]["id"]
            want = dict(PRODUCTS[product], cart_id=body["cart"], product_id=product)
            ok = answer == want
        elif route == "PUT /cart":
            written.append({k: body[k] for k in ("product_id", "name", "price", "quantity")})
            ok = answer == {}
        elif not written:  # GET /cart of the prepared cart
            ok = _same_summary(answer, [item for _, item in by_id])
        else:  # GET /cart of the write cart after len(written) PUTs
            names = answer.get("products", []) if isinstance(answer, dict) else []
            present = [_new_item(i) for i in range(NEW_ITEMS) if f"Test Item {i}" in names]
            ok = (all(w["name"] in names for w in written) and len(present) == len(names)
                  and _same_summary(answer, present))
        if not ok:
            return False, f"answer {n} to {route} is wrong: {answer!r:.300}"
    return True
