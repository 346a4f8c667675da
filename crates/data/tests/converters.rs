//! Every log format on a small fixture written the way the real files are distributed (latin-1
//! titles, `::`/pipe/tab separators, quoted CSV, gzip JSON lines), converted end to end and
//! checked against the interactions that were written.

mod common;

use common::scratch;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use prefopt_data::convert::{ConvertConfig, PromptTemplate, Split, TitleStyle, convert};
use prefopt_data::logs::{InteractionLog, LogFormat, LogSource};
use prefopt_data::progress::NoProgress;
use prefopt_data::{DataError, PreferenceDataset, PreferenceRecord, ReadOptions};

const USERS: usize = 6;
const ITEMS: usize = 30;
const PER_USER: usize = 8;

/// `(user, item, rating, timestamp)`, written to files in a shuffled order.
fn interactions() -> Vec<(usize, usize, u32, i64)> {
    let mut rows = Vec::new();
    for user in 0..USERS {
        for step in 0..PER_USER {
            let item = (user * 7 + step * 3) % ITEMS;
            let rating = 1 + ((user + step) % 5) as u32;
            let time = 1_000_000 + (user as i64) * 10 + (step as i64) * 1000;
            rows.push((user + 1, item + 1, rating, time));
        }
    }
    // Deterministic shuffle so the converter must sort by time.
    let mut shuffled = Vec::with_capacity(rows.len());
    let mut i = 0;
    while !rows.is_empty() {
        i = (i + 17) % rows.len();
        shuffled.push(rows.swap_remove(i));
    }
    shuffled
}

fn title(item: usize) -> String {
    match item {
        1 => "Misérables, Les (1995)".into(),
        2 => "American President, The (1995)".into(),
        _ => format!("Movie Number {item} (19{:02})", item % 100),
    }
}

fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("latin-1 text"))
        .collect()
}

fn gzip(path: &Path, text: &str) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap();
}

fn config() -> ConvertConfig {
    ConvertConfig {
        history: 3,
        min_history: 1,
        candidates: 5,
        negatives: 2,
        seed: 7,
        ..ConvertConfig::default()
    }
}

fn read(path: &Path) -> Vec<PreferenceRecord> {
    PreferenceDataset::open(path)
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap()
        .0
}

/// Converts `log` and checks every structural promise of the output against the fixture.
fn check_conversion(name: &str, log: &InteractionLog, ids: SourceIds) {
    let (user_key, item_key) = ids;
    assert_eq!(log.num_users(), USERS);
    assert_eq!(log.interactions.len(), USERS * PER_USER);
    assert_eq!(log.catalog.len(), ITEMS);
    let item1 = log.catalog.get(&item_key(1)).expect("item 1 in catalog");
    assert_eq!(
        log.catalog.title(item1),
        "Misérables, Les (1995)",
        "latin-1 decoded"
    );
    let out = scratch(&format!("{name}-out"));
    let summary = convert(log, &config(), &out, &mut NoProgress).unwrap();
    assert_eq!(summary.rows["test"], USERS as u64);
    assert_eq!(summary.rows["valid"], USERS as u64);
    assert_eq!(summary.rows["train"], (USERS * (PER_USER - 3)) as u64);
    assert_eq!(summary.users, USERS as u64);

    // Expected sequences by source ids, in time order.
    let mut expected: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for (user, item, _, time) in interactions() {
        expected
            .entry(user_key(user))
            .or_default()
            .push((time, item_key(item)));
    }
    let users = read_ids(&out.join("users.parquet"));
    let items = read_ids(&out.join("items.parquet"));
    let table = prefopt_data::convert::read_items(&out.join("items.parquet")).unwrap();
    assert_eq!(table.len(), items.len());
    let wrong_file = prefopt_data::convert::read_items(&out.join("train.parquet")).unwrap_err();
    assert!(
        matches!(&wrong_file, DataError::MissingColumn { column, path, .. }
            if column == "item_id" && path.ends_with("train.parquet")),
        "{wrong_file}"
    );
    let total: u64 = table.popularity.iter().sum();
    assert!(
        total > 0 && total <= interactions().len() as u64,
        "popularity counts training interactions: {total}"
    );
    for record in read(&out.join("test.parquet")) {
        let chosen = record.chosen_item.unwrap() as usize;
        assert_eq!(table.titles[chosen], record.chosen, "item table titles");
        for (&item, title) in record
            .rejected_items
            .as_ref()
            .unwrap()
            .iter()
            .zip(&record.rejected)
        {
            assert_eq!(&table.titles[item as usize], title);
        }
        let user = &users[record.user_id.unwrap() as usize];
        let mut sequence = expected[user].clone();
        sequence.sort();
        let last = &sequence[PER_USER - 1].1;
        assert_eq!(
            &items[record.chosen_item.unwrap() as usize],
            last,
            "test target is the last item"
        );
        let history: Vec<&String> = record
            .history_items
            .as_ref()
            .unwrap()
            .iter()
            .map(|&i| &items[i as usize])
            .collect();
        let want: Vec<&String> = sequence[PER_USER - 4..PER_USER - 1]
            .iter()
            .map(|(_, i)| i)
            .collect();
        assert_eq!(history, want, "history is the last 3 items, oldest first");
        let candidates = record.candidate_items.as_ref().unwrap();
        assert_eq!(candidates.len(), 5);
        assert!(candidates.contains(&record.chosen_item.unwrap()));
        let rejected = record.rejected_items.as_ref().unwrap();
        assert_eq!(rejected.len(), 2);
        let seen: Vec<&String> = sequence.iter().map(|(_, i)| i).collect();
        for &r in rejected {
            assert!(
                candidates.contains(&r),
                "rejected items come from the candidates"
            );
            assert!(
                !seen.contains(&&items[r as usize]),
                "negatives avoid the user's items"
            );
        }
        assert!(
            record.prompt.contains(&record.chosen),
            "the target's title is in the prompt"
        );
        assert!(record.prompt.ends_with("Answer: "));
    }
    // Deterministic: a second run gives identical files' contents.
    let again = scratch(&format!("{name}-again"));
    convert(log, &config(), &again, &mut NoProgress).unwrap();
    assert_eq!(
        read(&out.join("train.parquet")),
        read(&again.join("train.parquet"))
    );
}

/// How a format spells user and item `n` of the fixture.
type SourceIds = (
    &'static dyn Fn(usize) -> String,
    &'static dyn Fn(usize) -> String,
);

const PLAIN: SourceIds = (&|n| n.to_string(), &|n| n.to_string());

fn read_ids(path: &Path) -> Vec<String> {
    use arrow::array::AsArray;
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = batch
            .column_by_name("source_id")
            .unwrap()
            .as_string::<i32>();
        ids.extend(column.iter().map(|s| s.unwrap().to_string()));
    }
    ids
}

#[test]
fn movielens_100k_tab_and_latin1_pipe_files() {
    let dir = scratch("ml100k");
    let mut data = String::new();
    for (u, i, r, t) in interactions() {
        data += &format!("{u}\t{i}\t{r}\t{t}\n");
    }
    std::fs::write(dir.join("u.data"), data).unwrap();
    let mut items = Vec::new();
    for i in 1..=ITEMS {
        items.extend(latin1(&format!(
            "{i}|{}|01-Jan-1995||http://us.imdb.com/M/title-exact?x|0|0|1|0\n",
            title(i)
        )));
    }
    std::fs::write(dir.join("u.item"), items).unwrap();
    let log = LogSource::new(LogFormat::MovieLens100K, &*dir)
        .load()
        .unwrap();
    check_conversion("ml100k", &log, PLAIN);
    // The file itself also works as --input (u.item found beside it).
    let log = LogSource::new(LogFormat::MovieLens100K, dir.join("u.data"))
        .load()
        .unwrap();
    assert_eq!(log.interactions.len(), USERS * PER_USER);
}

#[test]
fn movielens_1m_double_colon_files() {
    let dir = scratch("ml1m");
    let mut data = String::new();
    for (u, i, r, t) in interactions() {
        data += &format!("{u}::{i}::{r}::{t}\r\n");
    }
    std::fs::write(dir.join("ratings.dat"), data).unwrap();
    let mut items = Vec::new();
    for i in 1..=ITEMS {
        items.extend(latin1(&format!("{i}::{}::Comedy|Drama\n", title(i))));
    }
    std::fs::write(dir.join("movies.dat"), items).unwrap();
    let log = LogSource::new(LogFormat::MovieLens1M, &*dir)
        .load()
        .unwrap();
    check_conversion("ml1m", &log, PLAIN);
}

#[test]
fn movielens_20m_quoted_csv() {
    let dir = scratch("ml20m");
    let mut data = String::from("userId,movieId,rating,timestamp\n");
    for (u, i, r, t) in interactions() {
        data += &format!("{u},{i},{r}.5,{t}\n");
    }
    std::fs::write(dir.join("ratings.csv"), data).unwrap();
    let mut items = String::from("movieId,title,genres\n");
    for i in 1..=ITEMS {
        let t = title(i);
        if t.contains(',') {
            items += &format!("{i},\"{t}\",Comedy|Drama\n");
        } else {
            items += &format!("{i},{t},Comedy\n");
        }
    }
    std::fs::write(dir.join("movies.csv"), items).unwrap();
    let log = LogSource::new(LogFormat::MovieLens20M, &*dir)
        .load()
        .unwrap();
    check_conversion("ml20m", &log, PLAIN);
    assert_eq!(
        log.catalog.title(log.catalog.get("2").unwrap()),
        "American President, The (1995)"
    );
}

#[test]
fn amazon_gzip_json_lines_2018_and_2023() {
    let dir = scratch("amazon");
    let mut reviews = String::new();
    for (u, i, r, t) in interactions() {
        reviews += &format!(
            "{{\"overall\": {r}.0, \"verified\": true, \"reviewTime\": \"01 1, 2014\", \"reviewerID\": \"A{u}\", \"asin\": \"B{i:05}\", \"reviewText\": \"ok, \\\"great\\\"\", \"unixReviewTime\": {t}}}\n"
        );
    }
    gzip(&dir.join("Movies_and_TV_5.json.gz"), &reviews);
    let mut meta = String::new();
    for i in 1..=ITEMS {
        meta += &format!(
            "{{\"asin\": \"B{i:05}\", \"title\": \"{}\", \"price\": \"$3.99\"}}\n",
            title(i)
        );
    }
    meta += "{\"asin\": \"B99999\", \"title\": \"\"}\n";
    gzip(&dir.join("meta_Movies_and_TV.json.gz"), &meta);
    let log = LogSource::new(LogFormat::Amazon, dir.join("Movies_and_TV_5.json.gz"))
        .with_items(dir.join("meta_Movies_and_TV.json.gz"))
        .load()
        .unwrap();
    assert_eq!(
        log.catalog
            .get("B00001")
            .map(|i| log.catalog.title(i).to_string()),
        Some(title(1))
    );
    assert!(
        log.notes
            .iter()
            .any(|n| n.contains("1 products have no title"))
    );
    // The generic checks look items up by source id "1": rebuild with the 2023 layout, which
    // also exercises `parent_asin`, `user_id`, `rating` and millisecond timestamps.
    let mut reviews = String::new();
    for (u, i, r, t) in interactions() {
        reviews += &format!(
            "{{\"rating\": {r}.0, \"title\": \"t\", \"asin\": \"X{i}\", \"parent_asin\": \"{i}\", \"user_id\": \"U{u}\", \"timestamp\": {}}}\n",
            t * 1000
        );
    }
    std::fs::write(dir.join("Movies_and_TV.jsonl"), reviews).unwrap();
    let mut meta = String::new();
    for i in 1..=ITEMS {
        meta += &format!(
            "{{\"main_category\": \"Movies\", \"title\": \"{}\", \"parent_asin\": \"{i}\"}}\n",
            title(i)
        );
    }
    std::fs::write(dir.join("meta_Movies_and_TV.jsonl"), meta).unwrap();
    let log = LogSource::new(LogFormat::Amazon, dir.join("Movies_and_TV.jsonl"))
        .with_items(dir.join("meta_Movies_and_TV.jsonl"))
        .load()
        .unwrap();
    check_conversion("amazon", &log, (&|n| format!("U{n}"), &|n| n.to_string()));
}

#[test]
fn lastfm_hetrec_tab_files_in_file_order() {
    let dir = scratch("lastfm");
    // No timestamps in user_artists.dat: write in time order, the file order is the chronology.
    let mut rows = interactions();
    rows.sort_by_key(|&(u, _, _, t)| (u, t));
    let mut data = String::from("userID\tartistID\tweight\n");
    for (u, i, r, _) in rows {
        data += &format!("{u}\t{i}\t{}\n", r * 100);
    }
    std::fs::write(dir.join("user_artists.dat"), data).unwrap();
    let mut artists = String::from("id\tname\turl\tpictureURL\n");
    for i in 1..=ITEMS {
        artists += &format!(
            "{i}\t{}\thttp://www.last.fm/music/x\thttp://userserve-ak.last.fm/x.png\n",
            title(i)
        );
    }
    std::fs::write(dir.join("artists.dat"), artists).unwrap();
    let log = LogSource::new(LogFormat::LastFm, &*dir).load().unwrap();
    check_conversion("lastfm", &log, PLAIN);
}

#[test]
fn goodreads_json_lines_and_csv_with_id_map() {
    let dir = scratch("goodreads");
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut lines = String::new();
    for (u, i, r, t) in interactions() {
        // Encode the fixture time as a date: days apart by step, users by minutes.
        let step = (t - 1_000_000) / 1000;
        let minute = (t - 1_000_000) % 1000 / 10;
        lines += &format!(
            "{{\"user_id\": \"{u:032x}\", \"book_id\": \"{i}\", \"review_id\": \"r\", \"is_read\": true, \"rating\": {r}, \"date_added\": \"Mon {} {:02} 10:{minute:02}:00 -0700 2012\", \"read_at\": \"\"}}\n",
            month[step as usize % 12],
            1 + step / 12,
        );
    }
    gzip(&dir.join("goodreads_interactions_poetry.json.gz"), &lines);
    let mut books = String::new();
    for i in 1..=ITEMS {
        books += &format!(
            "{{\"isbn\": \"\", \"book_id\": \"{i}\", \"title\": \"{}\", \"title_without_series\": \"x\"}}\n",
            title(i)
        );
    }
    gzip(&dir.join("goodreads_books_poetry.json.gz"), &books);
    let log = LogSource::new(
        LogFormat::Goodreads,
        dir.join("goodreads_interactions_poetry.json.gz"),
    )
    .with_items(dir.join("goodreads_books_poetry.json.gz"))
    .load()
    .unwrap();
    check_conversion(
        "goodreads-json",
        &log,
        (&|n| format!("{n:032x}"), &|n| n.to_string()),
    );

    // The full CSV: no time (file order), csv book ids translated through book_id_map.csv.
    let csv_dir = scratch("goodreads-csv");
    let mut rows = interactions();
    rows.sort_by_key(|&(u, _, _, t)| (u, t));
    let mut data = String::from("user_id,book_id,is_read,rating,is_reviewed\n");
    for (u, i, r, _) in rows {
        data += &format!("{u},{},1,{r},0\n", i + 1000);
    }
    std::fs::write(csv_dir.join("goodreads_interactions.csv"), data).unwrap();
    let mut map = String::from("book_id_csv,book_id\n");
    for i in 1..=ITEMS {
        map += &format!("{},{i}\n", i + 1000);
    }
    std::fs::write(csv_dir.join("book_id_map.csv"), map).unwrap();
    let log = LogSource::new(
        LogFormat::Goodreads,
        csv_dir.join("goodreads_interactions.csv"),
    )
    .with_items(dir.join("goodreads_books_poetry.json.gz"))
    .load()
    .unwrap();
    check_conversion("goodreads-csv", &log, PLAIN);
}

#[test]
fn generic_csv_with_custom_columns_and_parquet() {
    let dir = scratch("generic");
    let mut data = String::from("ts;who;what;stars\n");
    for (u, i, r, t) in interactions() {
        data += &format!("{t};\"user {u}\";{i};{r}\n");
    }
    // Semicolons are not a known extension: write a .tsv with tabs instead, and a CSV.
    let csv: String = data.replace(';', ",");
    std::fs::write(dir.join("log.csv"), csv).unwrap();
    let mut items = String::from("item,name\n");
    for i in 1..=ITEMS {
        items += &format!("{i},\"{}\"\n", title(i));
    }
    std::fs::write(dir.join("items.csv"), items).unwrap();
    let mut source = LogSource::new(LogFormat::Interactions, dir.join("log.csv"))
        .with_items(dir.join("items.csv"));
    source.columns.user = "who".into();
    source.columns.item = "what".into();
    source.columns.rating = "stars".into();
    source.columns.timestamp = "ts".into();
    source.columns.item_id = "item".into();
    source.columns.title = "name".into();
    let log = source.load().unwrap();
    check_conversion(
        "generic-csv",
        &log,
        (&|n| format!("user {n}"), &|n| n.to_string()),
    );

    // The same log as Parquet with integer ids.
    use arrow::array::{ArrayRef, Float64Array, Int64Array};
    use std::sync::Arc;
    let rows = interactions();
    let batch = arrow::record_batch::RecordBatch::try_from_iter(vec![
        (
            "user_id",
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.0 as i64),
            )) as ArrayRef,
        ),
        (
            "item_id",
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.1 as i64),
            )),
        ),
        (
            "rating",
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| f64::from(r.2)),
            )),
        ),
        (
            "timestamp",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
        ),
    ])
    .unwrap();
    let path = dir.join("log.parquet");
    let mut sink =
        prefopt_data::parquet_io::ParquetSink::create(&path, batch.schema(), &Default::default())
            .unwrap();
    sink.write(&batch).unwrap();
    sink.finish().unwrap();
    let mut source =
        LogSource::new(LogFormat::Interactions, &*path).with_items(dir.join("items.csv"));
    source.columns.item_id = "item".into();
    source.columns.title = "name".into();
    check_conversion("generic-parquet", &source.load().unwrap(), PLAIN);
}

#[test]
fn chronological_split_min_rating_and_clean_titles() {
    let dir = scratch("ml1m-options");
    let mut data = String::new();
    for (u, i, r, t) in interactions() {
        data += &format!("{u}::{i}::{r}::{t}\n");
    }
    std::fs::write(dir.join("ratings.dat"), data).unwrap();
    let mut items = Vec::new();
    for i in 1..=ITEMS {
        items.extend(latin1(&format!("{i}::{}::Drama\n", title(i))));
    }
    std::fs::write(dir.join("movies.dat"), items).unwrap();
    let log = LogSource::new(LogFormat::MovieLens1M, &*dir)
        .load()
        .unwrap();
    let out = scratch("ml1m-options-out");
    let config = ConvertConfig {
        split: "chronological".parse::<Split>().unwrap(),
        min_rating: Some(2.0),
        titles: TitleStyle::MovieLensClean,
        template: PromptTemplate::new("{history} => {candidates}").unwrap(),
        ..config()
    };
    let summary = convert(&log, &config, &out, &mut NoProgress).unwrap();
    let low = interactions().iter().filter(|r| r.2 < 2).count() as u64;
    assert_eq!(summary.skipped["rating below --min-rating"], low);
    let total: u64 = summary.rows.values().sum();
    let (train, valid) = (summary.rows["train"] as f64, summary.rows["valid"] as f64);
    assert!((train / total as f64 - 0.8).abs() < 0.05, "{summary:?}");
    assert!((valid / total as f64 - 0.1).abs() < 0.05, "{summary:?}");
    assert_eq!(
        read(&out.join("test.parquet")).len() as u64,
        summary.rows["test"]
    );
    assert!(summary.rows["test"] > 0);
    let titles: Vec<String> = read(&out.join("train.parquet"))
        .into_iter()
        .map(|r| r.chosen)
        .collect();
    assert!(
        titles.iter().all(|t| !t.ends_with(')')),
        "years removed: {titles:?}"
    );
    assert!(
        titles.iter().any(|t| t == "Les Misérables")
            || titles.iter().all(|t| t.starts_with("Movie"))
    );
}

#[test]
fn bad_inputs_are_reported_with_file_and_line() {
    let dir = scratch("bad");
    std::fs::write(dir.join("u.data"), "1\t2\t5\t100\n1\t3\tfive\t200\n").unwrap();
    std::fs::write(dir.join("u.item"), "2|Two|x\n3|Three|x\n").unwrap();
    let error = LogSource::new(LogFormat::MovieLens100K, &*dir)
        .load()
        .unwrap_err();
    match &error {
        DataError::Parse {
            path, line, field, ..
        } => {
            assert!(path.ends_with("u.data"));
            assert_eq!(*line, 2);
            assert_eq!(field, "rating");
        }
        other => panic!("expected a parse error, got {other}"),
    }
    // NaN and inf parse as floats but are no rating (the text-level fuzz cases).
    for bad in ["NaN", "inf", "-Infinity"] {
        std::fs::write(
            dir.join("u.data"),
            format!("1\t2\t5\t100\n1\t3\t{bad}\t200\n"),
        )
        .unwrap();
        let error = LogSource::new(LogFormat::MovieLens100K, &*dir)
            .load()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("u.data: line 2, rating") && error.contains("not a finite number"),
            "{error}"
        );
    }
    let missing = scratch("missing");
    let error = LogSource::new(LogFormat::MovieLens1M, &*missing)
        .load()
        .unwrap_err();
    assert!(
        matches!(&error, DataError::MissingInput { path, .. } if path.ends_with("ratings.dat")),
        "{error}"
    );
    std::fs::write(dir.join("log.csv"), "user,item\n1,2\n").unwrap();
    let error = LogSource::new(LogFormat::Interactions, dir.join("log.csv"))
        .load()
        .unwrap_err();
    assert!(
        matches!(&error, DataError::MissingColumn { column, .. } if column == "user_id"),
        "{error}"
    );
    std::fs::write(dir.join("reviews.json"), "{\"reviewerID\": \"a\"\n").unwrap();
    std::fs::write(dir.join("meta.json"), "{'asin': 'B1', 'title': 'x'}\n").unwrap();
    let error = LogSource::new(LogFormat::Amazon, dir.join("reviews.json"))
        .with_items(dir.join("meta.json"))
        .load()
        .unwrap_err();
    assert!(error.to_string().contains("Python dict literal"), "{error}");
    // A Parquet item table with a null title is an error at its row.
    {
        use arrow::array::{ArrayRef, Int64Array, StringArray};
        use std::sync::Arc;
        let batch = arrow::record_batch::RecordBatch::try_from_iter(vec![
            (
                "item_id",
                Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
            ),
            (
                "title",
                Arc::new(StringArray::from(vec![Some("a"), Some("b"), None])),
            ),
        ])
        .unwrap();
        let items = dir.join("items.parquet");
        let mut sink = prefopt_data::parquet_io::ParquetSink::create(
            &items,
            batch.schema(),
            &Default::default(),
        )
        .unwrap();
        sink.write(&batch).unwrap();
        sink.finish().unwrap();
        std::fs::write(dir.join("log.csv"), "user_id,item_id\n1,2\n").unwrap();
        let error = LogSource::new(LogFormat::Interactions, dir.join("log.csv"))
            .with_items(&items)
            .load()
            .unwrap_err();
        assert!(
            matches!(&error, DataError::InvalidRow { row: 2, column, .. } if column == "title"),
            "{error}"
        );
    }
    // Unknown items are skipped and counted, never silently.
    std::fs::write(dir.join("u.data"), "1\t2\t5\t100\n1\t9\t5\t200\n").unwrap();
    let log = LogSource::new(LogFormat::MovieLens100K, &*dir)
        .load()
        .unwrap();
    assert_eq!(log.skipped["item not in the item table"], 1);
    // Asking for more candidates than the catalog holds is an error, not a short row.
    let out = scratch("bad-out");
    let error = convert(&log, &ConvertConfig::default(), &out, &mut NoProgress).unwrap_err();
    assert!(matches!(
        error,
        DataError::InvalidParameter {
            name: "candidates",
            ..
        }
    ));
}
