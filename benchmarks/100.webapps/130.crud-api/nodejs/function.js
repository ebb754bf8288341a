const nosql = require('./nosql');

const client = nosql.nosql.get_instance();
const TABLE = 'shopping_cart';

async function addProduct(cartId, productId, name, price, quantity) {
  await client.insert(TABLE, ['cart_id', cartId], ['product_id', productId], { price, quantity, name });
}

async function getProduct(cartId, productId) {
  return client.get(TABLE, ['cart_id', cartId], ['product_id', productId]);
}

async function queryProducts(cartId) {
  const products = [];
  let priceSum = 0;
  let quantitySum = 0;
  for (const product of await client.query(TABLE, ['cart_id', cartId], 'product_id')) {
    products.push(product.name);
    priceSum += product.price;
    quantitySum += product.quantity;
  }
  const avgPrice = quantitySum > 0 ? priceSum / quantitySum : 0.0;
  return { products, total_cost: priceSum, avg_price: avgPrice };
}

exports.handler = async function (event) {
  const results = [];
  for (const request of event.requests) {
    const { route, body } = request;
    if (route === 'PUT /cart') {
      await addProduct(body.cart, body.product_id, body.name, body.price, body.quantity);
      results.push({});
    } else if (route === 'GET /cart/{id}') {
      results.push(await getProduct(body.cart, request.path.id));
    } else if (route === 'GET /cart') {
      results.push(await queryProducts(body.cart));
    } else {
      throw new Error(`unknown route ${route}`);
    }
  }
  return { result: results };
};
