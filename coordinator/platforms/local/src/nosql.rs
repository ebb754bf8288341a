//! The local platform's NoSQL tables: in memory, for the life of the platform, served to
//! function instances by the gateway (`POST /nosql/<operation>`, see docs/local-protocol.md).
//!
//! A table is a sorted map from (primary key, secondary key) to item, so that a query by primary
//! key is one range scan and comes back ordered by secondary key, as DynamoDB returns it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;

use sebs_platform::nosql::{key_value, table_name};
use sebs_platform::{Item, NoSqlError, NoSqlStorage, TableSpec};

#[derive(Debug)]
struct Table {
    spec: TableSpec,
    items: BTreeMap<(String, String), Item>,
}

impl Table {
    /// The (primary, secondary) key of `item` (or of a key object), checked.
    fn key_of(&self, name: &str, item: &Item) -> Result<(String, String), NoSqlError> {
        let primary = key_value(
            name,
            &self.spec.primary_key,
            item.get(&self.spec.primary_key),
        )?;
        let secondary = match &self.spec.secondary_key {
            Some(attribute) => key_value(name, attribute, item.get(attribute))?,
            None => String::new(),
        };
        Ok((primary, secondary))
    }
}

/// Every table of one local platform.
#[derive(Debug, Default)]
pub struct MemoryTables {
    tables: Mutex<HashMap<String, Table>>,
}

impl MemoryTables {
    fn with_table<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Table) -> Result<T, NoSqlError>,
    ) -> Result<T, NoSqlError> {
        let mut tables = self
            .tables
            .lock()
            .map_err(|_| NoSqlError::Backend("table lock poisoned".into()))?;
        let table = tables
            .get_mut(name)
            .ok_or_else(|| NoSqlError::NoTable(name.to_string()))?;
        f(table)
    }
}

#[async_trait]
impl NoSqlStorage for MemoryTables {
    async fn create_table(&self, benchmark: &str, spec: &TableSpec) -> Result<String, NoSqlError> {
        let name = table_name(benchmark, &spec.name);
        let mut tables = self
            .tables
            .lock()
            .map_err(|_| NoSqlError::Backend("table lock poisoned".into()))?;
        match tables.get(&name) {
            Some(existing) if existing.spec != *spec => Err(NoSqlError::invalid(
                &name,
                format!(
                    "exists with keys ({}, {:?}), asked for ({}, {:?})",
                    existing.spec.primary_key,
                    existing.spec.secondary_key,
                    spec.primary_key,
                    spec.secondary_key
                ),
            )),
            Some(_) => Ok(name),
            None => {
                tables.insert(
                    name.clone(),
                    Table {
                        spec: spec.clone(),
                        items: BTreeMap::new(),
                    },
                );
                Ok(name)
            }
        }
    }

    async fn insert(&self, table: &str, item: Item) -> Result<(), NoSqlError> {
        self.with_table(table, |t| {
            let key = t.key_of(table, &item)?;
            t.items.insert(key, item);
            Ok(())
        })
    }

    async fn get(&self, table: &str, key: &Item) -> Result<Option<Item>, NoSqlError> {
        self.with_table(table, |t| {
            let key = t.key_of(table, key)?;
            Ok(t.items.get(&key).cloned())
        })
    }

    async fn update(&self, table: &str, key: &Item, updates: Item) -> Result<(), NoSqlError> {
        self.with_table(table, |t| {
            let k = t.key_of(table, key)?;
            let keys = [Some(&t.spec.primary_key), t.spec.secondary_key.as_ref()];
            if let Some(attribute) = updates.keys().find(|a| keys.contains(&Some(*a))) {
                return Err(NoSqlError::invalid(
                    table,
                    format!("key attribute `{attribute}` cannot be updated"),
                ));
            }
            let item = t.items.entry(k).or_insert_with(|| key.clone());
            item.extend(updates);
            Ok(())
        })
    }

    async fn query(&self, table: &str, value: &Value) -> Result<Vec<Item>, NoSqlError> {
        self.with_table(table, |t| {
            let primary = key_value(table, &t.spec.primary_key, Some(value))?;
            let from = (primary.clone(), String::new());
            Ok(t.items
                .range(from..)
                .take_while(|((p, _), _)| *p == primary)
                .map(|(_, item)| item.clone())
                .collect())
        })
    }

    async fn delete(&self, table: &str, key: &Item) -> Result<(), NoSqlError> {
        self.with_table(table, |t| {
            let key = t.key_of(table, key)?;
            t.items.remove(&key);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Item {
        v.as_object().unwrap().clone()
    }

    fn cart() -> TableSpec {
        TableSpec {
            name: "shopping_cart".into(),
            primary_key: "cart_id".into(),
            secondary_key: Some("product_id".into()),
        }
    }

    #[tokio::test]
    async fn crud_on_a_table_with_a_sort_key() {
        let store = MemoryTables::default();
        let t = store.create_table("130.crud-api", &cart()).await.unwrap();
        assert_eq!(t, "sebs-130.crud-api-shopping_cart");
        assert_eq!(
            store.create_table("130.crud-api", &cart()).await.unwrap(),
            t
        );
        for (cart, product, price) in [("c1", "b", 2), ("c1", "a", 1), ("c2", "a", 5)] {
            let i = item(json!({"cart_id": cart, "product_id": product, "price": price}));
            store.insert(&t, i).await.unwrap();
        }
        let listed = store.query(&t, &json!("c1")).await.unwrap();
        let products: Vec<&str> = listed
            .iter()
            .map(|i| i["product_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            products,
            ["a", "b"],
            "ordered by the sort key, other carts left out"
        );
        let key = item(json!({"cart_id": "c1", "product_id": "b"}));
        assert_eq!(store.get(&t, &key).await.unwrap().unwrap()["price"], 2);
        store
            .update(&t, &key, item(json!({"price": 3, "name": "x"})))
            .await
            .unwrap();
        let got = store.get(&t, &key).await.unwrap().unwrap();
        assert_eq!(
            (got["price"].clone(), got["name"].clone()),
            (json!(3), json!("x"))
        );
        store.delete(&t, &key).await.unwrap();
        assert!(store.get(&t, &key).await.unwrap().is_none());
        store.delete(&t, &key).await.unwrap();
        assert_eq!(store.query(&t, &json!("c1")).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn bad_keys_and_tables_are_named() {
        let store = MemoryTables::default();
        let t = store.create_table("b", &cart()).await.unwrap();
        let err = store
            .insert(&t, item(json!({"cart_id": "c1"})))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("product_id") && err.contains("missing"),
            "{err}"
        );
        let err = store
            .insert(&t, item(json!({"cart_id": [1], "product_id": "p"})))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("cart_id"), "{err}");
        let err = store
            .query("nope", &json!("x"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
        let key = item(json!({"cart_id": "c", "product_id": "p"}));
        let err = store
            .update(&t, &key, item(json!({"cart_id": "d"})))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be updated"), "{err}");
        let other = TableSpec {
            secondary_key: None,
            ..cart()
        };
        assert!(store.create_table("b", &other).await.is_err());
        // Numbers and strings are different keys.
        let t2 = store
            .create_table(
                "b",
                &TableSpec {
                    name: "n".into(),
                    ..other
                },
            )
            .await
            .unwrap();
        store
            .insert(&t2, item(json!({"cart_id": 1, "v": "num"})))
            .await
            .unwrap();
        store
            .insert(&t2, item(json!({"cart_id": "1", "v": "str"})))
            .await
            .unwrap();
        assert_eq!(store.query(&t2, &json!(1)).await.unwrap()[0]["v"], "num");
    }
}
