//! Reading the delivery history the scripts write (`h:<key>` hashes and the `history` zset, see
//! `lua/prelude.lua`): the newest first, read in chunks and filtered here.

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use roamify_hooks::delivery::{
    Attempt, Delivery, Described, Fate, Filter, HistoryPage, Page, StoreError, StoreFuture,
};

use crate::RedisStore;

/// Hashes read per round trip.
const CHUNK: usize = 500;

impl RedisStore {
    pub(crate) fn search_history(
        &self,
        filter: Filter,
        page: Page,
    ) -> StoreFuture<'_, HistoryPage> {
        let mut connection = self.connection.clone();
        let prefix = self.shared.prefix.clone();
        self.runtime.run("search the history", async move {
            let fail = |e| StoreError::backend("search the history", e);
            let keys: Vec<String> = redis::cmd("ZREVRANGE")
                .arg(format!("{prefix}history"))
                .arg(0)
                .arg(-1)
                .query_async(&mut connection)
                .await
                .map_err(fail)?;
            let mut total = 0;
            let mut items = Vec::new();
            for chunk in keys.chunks(CHUNK) {
                for delivery in read(&mut connection, &prefix, chunk).await.map_err(fail)? {
                    if delivery.matches(&filter) {
                        if total >= page.offset && items.len() < page.limit {
                            items.push(delivery);
                        }
                        total += 1;
                    }
                }
            }
            Ok(HistoryPage::new(total, items))
        })
    }

    pub(crate) fn history_of(&self, key: String) -> StoreFuture<'_, Option<Delivery>> {
        let mut connection = self.connection.clone();
        let prefix = self.shared.prefix.clone();
        self.runtime.run("read the history", async move {
            let found = read(&mut connection, &prefix, &[key])
                .await
                .map_err(|e| StoreError::backend("read the history", e))?;
            Ok(found.into_iter().next())
        })
    }
}

/// The hashes of `keys` that exist, in order.
async fn read(
    connection: &mut ConnectionManager,
    prefix: &str,
    keys: &[String],
) -> redis::RedisResult<Vec<Delivery>> {
    let mut pipe = redis::pipe();
    for key in keys {
        pipe.cmd("HGETALL").arg(format!("{prefix}h:{key}"));
    }
    let hashes: Vec<HashMap<String, String>> = pipe.query_async(connection).await?;
    Ok(keys
        .iter()
        .zip(hashes)
        .filter(|(_, fields)| !fields.is_empty())
        .map(|(key, fields)| delivery(key, &fields))
        .collect())
}

fn delivery(key: &str, fields: &HashMap<String, String>) -> Delivery {
    let text = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let number = |name: &str| fields.get(name).and_then(|v| v.parse::<i64>().ok());
    let about = Described::new(
        text("category"),
        text("kind"),
        fields.get("iccid").filter(|i| !i.is_empty()).cloned(),
    );
    let mut delivery = Delivery::new(key, about, number("received").unwrap_or(0));
    delivery.finished_ms = number("finished");
    delivery.fate = text("fate").parse().unwrap_or(Fate::Pending);
    delivery.duplicates = number("duplicates")
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    delivery.replays = number("replays")
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    delivery.attempts = Attempt::list_from_json(&text("attempts"));
    delivery
}
