//! The operators' side of [`PgStore`]: counts, dead letters, replay and discard, the history.

use roamify_hooks::delivery::{
    Admin, DeadLetter, Delivery, Filter, HistoryPage, Page, StoreCounts, StoreFuture,
};
use roamify_hooks::events::UnixTime;

use crate::sql::add_pending;
use crate::{PgStore, backend, order, order_of, pool_error};

impl Admin for PgStore {
    fn dead_letters(&self) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.run(move |pool, sql| async move {
            let fail = backend("list dead letters");
            let client = pool.get().await.map_err(pool_error("list dead letters"))?;
            let rows = client.query(&sql.dead_letters, &[]).await.map_err(&fail)?;
            Ok(rows
                .into_iter()
                .map(|row| DeadLetter {
                    key: row.get(0),
                    body: row.get(1),
                    attempts: u32::try_from(row.get::<_, i32>(2)).unwrap_or(0),
                    error: row.get(3),
                    dead_at: UnixTime::from_secs(row.get::<_, i64>(4)),
                    order: order_of(&row, 5),
                })
                .collect())
        })
    }

    fn replay(&self, key: String) -> StoreFuture<'_, bool> {
        self.run(move |pool, sql| async move {
            let fail = backend("replay");
            let mut client = pool.get().await.map_err(pool_error("replay"))?;
            let tx = client.transaction().await.map_err(&fail)?;
            let Some(dead) = tx
                .query_opt(&sql.replayed_order, &[&key])
                .await
                .map_err(&fail)?
            else {
                return Ok(false);
            };
            let (stream, serial): (Option<String>, bool) = (dead.get(0), dead.get(1));
            if serial && let Some(stream) = &stream {
                let streams = std::iter::once(stream.clone()).collect();
                order::lock_streams(&tx, &sql, &streams)
                    .await
                    .map_err(&fail)?;
            }
            let replayed = tx
                .execute(&sql.replay, &[&key, &stream, &serial])
                .await
                .map_err(&fail)?
                == 1;
            if replayed {
                add_pending(&tx, &sql, 1).await.map_err(&fail)?;
                sql.history.replayed(&tx, &key).await.map_err(&fail)?;
            }
            tx.commit().await.map_err(&fail)?;
            Ok(replayed)
        })
    }

    fn counts(&self) -> StoreFuture<'_, StoreCounts> {
        self.run(move |pool, sql| async move {
            let client = pool.get().await.map_err(pool_error("count deliveries"))?;
            let row = client
                .query_one(&sql.counts, &[])
                .await
                .map_err(backend("count deliveries"))?;
            let n = |i: usize| usize::try_from(row.get::<_, i64>(i)).unwrap_or(0);
            Ok(StoreCounts::new(n(0), n(1), n(2), n(3)))
        })
    }

    fn discard(&self, key: String) -> StoreFuture<'_, bool> {
        self.run(move |pool, sql| async move {
            let fail = backend("discard");
            let mut client = pool.get().await.map_err(pool_error("discard"))?;
            let tx = client.transaction().await.map_err(&fail)?;
            let deleted = tx.execute(&sql.discard, &[&key]).await.map_err(&fail)? == 1;
            if deleted {
                sql.history.discarded(&tx, &key).await.map_err(&fail)?;
            }
            tx.commit().await.map_err(&fail)?;
            Ok(deleted)
        })
    }

    fn history(&self, filter: Filter, page: Page) -> StoreFuture<'_, HistoryPage> {
        self.run(move |pool, sql| async move {
            let client = pool.get().await.map_err(pool_error("search the history"))?;
            sql.history
                .search(&client, &filter, page)
                .await
                .map_err(backend("search the history"))
        })
    }

    fn delivery(&self, key: String) -> StoreFuture<'_, Option<Delivery>> {
        self.run(move |pool, sql| async move {
            let client = pool.get().await.map_err(pool_error("read the history"))?;
            sql.history
                .get(&client, &key)
                .await
                .map_err(backend("read the history"))
        })
    }

    fn pause(&self, kind: String) -> StoreFuture<'_, bool> {
        self.run(move |pool, sql| async move {
            let client = pool.get().await.map_err(pool_error("pause"))?;
            let statement = format!(
                "INSERT INTO {}.paused (kind) VALUES ($1) ON CONFLICT DO NOTHING",
                sql.schema
            );
            let added = client
                .execute(&statement, &[&kind])
                .await
                .map_err(backend("pause"))?;
            Ok(added == 1)
        })
    }

    fn resume(&self, kind: String) -> StoreFuture<'_, bool> {
        self.run(move |pool, sql| async move {
            let client = pool.get().await.map_err(pool_error("resume"))?;
            let statement = format!("DELETE FROM {}.paused WHERE kind = $1", sql.schema);
            let removed = client
                .execute(&statement, &[&kind])
                .await
                .map_err(backend("resume"))?;
            Ok(removed == 1)
        })
    }

    fn paused(&self) -> StoreFuture<'_, Vec<String>> {
        self.run(move |pool, sql| async move {
            let client = pool.get().await.map_err(pool_error("list paused kinds"))?;
            let statement = format!("SELECT kind FROM {}.paused ORDER BY kind", sql.schema);
            let rows = client
                .query(&statement, &[])
                .await
                .map_err(backend("list paused kinds"))?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }
}
