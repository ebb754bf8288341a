from . import nosql

client = nosql.nosql.get_instance()

TABLE = "shopping_cart"


def add_product(cart_id, product_id, name, price, quantity):
    client.insert(TABLE, ("cart_id", cart_id), ("product_id", product_id),
                  {"price": price, "quantity": quantity, "name": name})


def get_product(cart_id, product_id):
    return client.get(TABLE, ("cart_id", cart_id), ("product_id", product_id))


def query_products(cart_id):
    products = []
    price_sum = 0
    quantity_sum = 0
    for product in client.query(TABLE, ("cart_id", cart_id), "product_id"):
        products.append(product["name"])
        price_sum += product["price"]
        quantity_sum += product["quantity"]
    avg_price = price_sum / quantity_sum if quantity_sum > 0 else 0.0
    return {"products": products, "total_cost": price_sum, "avg_price": avg_price}


def handler(event):
    results = []
    for request in event["requests"]:
        route = request["route"]
        body = request["body"]
        if route == "PUT /cart":
            add_product(body["cart"], body["product_id"], body["name"], body["price"], body["quantity"])
            results.append({})
        elif route == "GET /cart/{id}":
            results.append(get_product(body["cart"], request["path"]["id"]))
        elif route == "GET /cart":
            results.append(query_products(body["cart"]))
        else:
            raise ValueError(f"unknown route {route!r}")
    return {"result": results}
