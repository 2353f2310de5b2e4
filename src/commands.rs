//! What each command does, between the parsed command line and the library.

use std::process::ExitCode;

use anyhow::Context;

use crate::app::{Application, RunOnceOptions};
use crate::cli::{
    AccountsCommand, BenchArgs, Cli, Command, DemoArgs, HealthcheckArgs, LabelsArgs, LabelsPer,
    MappingsCommand, OrdersCommand, ProductsCommand, ReceiveArgs, RunArgs, SandboxArgs,
    SkusCommand, SuppliersCommand, WarehousesCommand,
};
use crate::domain::SkuMapping;
use crate::store::MappingChange;
use std::io::IsTerminal;

use crate::config::{EXIT_CONFIG, Settings, Sources};
use crate::daemon::Daemon;
use crate::{bench, demo, imports, sandbox, telemetry};

/// Runs a parsed command line to its exit status.
pub async fn execute(cli: Cli) -> ExitCode {
    // The sandbox and the demo run on built-in defaults and need no configuration.
    match cli.command {
        Command::Sandbox(args) => return report(sandbox_command(args).await),
        Command::Demo(args) => return report(demo_command(args).await),
        Command::Bench(args) => return bench_command(args).await,
        _ => {}
    }
    let settings = match Settings::load(&Sources::from_process(cli.config.clone())) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sync1688: bad configuration: {e}");
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    telemetry::init(&settings.log.level, settings.log.format);
    match cli.command {
        Command::CheckConfig => {
            print!("{}", settings.render_redacted());
            ExitCode::SUCCESS
        }
        Command::Migrate => report(migrate(settings).await),
        Command::Healthcheck(args) => healthcheck(&settings, args).await,
        Command::Status => report(status(settings).await),
        Command::Run(args) => run(settings, args).await,
        Command::Skus(SkusCommand::Import { file }) => report(
            async {
                let app = Application::build(settings).await?;
                let outcome =
                    imports::import_merchant_skus_file(app.store().as_ref(), &file).await?;
                println!(
                    "{}: {} merchant SKUs added, {} updated",
                    file.display(),
                    outcome.inserted,
                    outcome.updated
                );
                Ok(())
            }
            .await,
        ),
        Command::Mappings(command) => report(mappings(settings, command).await),
        Command::Products(command) => products(settings, command).await,
        Command::Accounts(command) => report(accounts(settings, command).await),
        Command::Receive(args) => report(receive(settings, args).await),
        Command::Labels(args) => report(labels(settings, args).await),
        Command::Warehouses(command) => report(warehouses(settings, command).await),
        Command::Orders(command) => report(orders(settings, command).await),
        Command::Suppliers(SuppliersCommand::List) => report(suppliers(settings).await),
        Command::Sandbox(_) | Command::Demo(_) | Command::Bench(_) => {
            unreachable!("handled above")
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sync1688: {}", telemetry::error_chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    Application::build(settings)
        .await
        .context("migration failed")?;
    println!("database is up to date");
    Ok(())
}

async fn run(settings: Settings, args: RunArgs) -> ExitCode {
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => return report(Err(e.into())),
    };
    if !args.once {
        return report(daemon(app).await);
    }
    let cancel = app.cancel_token();
    tokio::spawn(async move {
        crate::shutdown::signal().await;
        tracing::warn!("interrupted: stopping after the current page");
        cancel.cancel();
    });
    let bars = (args.from.is_some() && std::io::stderr().is_terminal())
        .then(indicatif::MultiProgress::new);
    let progress = bars.clone().map(|multi| {
        let bars = std::sync::Mutex::new(
            std::collections::HashMap::<String, indicatif::ProgressBar>::new(),
        );
        let style = indicatif::ProgressStyle::with_template(
            "{prefix:>12} [{bar:40}] {pos}/{len} chunks {elapsed}",
        )
        .expect("a valid template")
        .progress_chars("=> ");
        std::sync::Arc::new(move |account: &str, done: usize, total: usize| {
            let mut bars = bars.lock().unwrap_or_else(|p| p.into_inner());
            let bar = bars.entry(account.to_owned()).or_insert_with(|| {
                let bar = multi.add(indicatif::ProgressBar::new(total as u64));
                bar.set_style(style.clone());
                bar.set_prefix(account.to_owned());
                bar
            });
            bar.set_position(done as u64);
        }) as crate::app::ProgressFn
    });
    let options = RunOnceOptions {
        account: args.account,
        from: args.from,
        to: args.to,
        progress,
    };
    let reports = match app.run_once(&options).await {
        Ok(reports) => reports,
        Err(e) => return report(Err(e.into())),
    };
    drop(bars);
    let tz = app.settings().sync.timezone;
    let mut failed = false;
    for r in &reports {
        let c = &r.counts;
        println!(
            "{} {} {}..{}: {} — {} orders seen, {} inserted, {} updated, {} unchanged, {} skipped, {} lines unmapped",
            r.account,
            r.kind.as_str(),
            r.window.start.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            r.window.end.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            r.status.as_str(),
            c.orders_seen,
            c.orders_inserted,
            c.orders_updated,
            c.orders_unchanged,
            c.orders_skipped,
            c.lines_unmapped
        );
        if !r.succeeded() {
            failed = true;
            println!("  error: {}", r.errors.join("; "));
        }
    }
    if failed || app.cancel_token().is_cancelled() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn daemon(app: Application) -> anyhow::Result<()> {
    let daemon = Daemon::bind(app).await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        crate::shutdown::signal().await;
        tracing::info!("received a stop signal");
        trigger.cancel();
    });
    daemon.run_until_stopped(shutdown).await?;
    Ok(())
}

async fn receive(settings: Settings, args: ReceiveArgs) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let tolerance = app.settings().receiving.over_receipt_tolerance_percent;
    let options = crate::receive::ReceiveOptions {
        warehouse: args.warehouse,
        tracking_no: args.tracking,
        po_numbers: args.po_numbers,
        scans: args.scans,
        from_file: args.from_file,
        commit: args.commit,
        note: args.note,
    };
    crate::receive::run(app.store().as_ref(), options, tolerance).await?;
    Ok(())
}

async fn labels(settings: Settings, args: LabelsArgs) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let receipt = app
        .store()
        .receipt(args.receipt_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("receipt {} does not exist", args.receipt_id))?;
    let labels: Vec<crate::labels::Label> = receipt
        .lines
        .iter()
        .map(|line| crate::labels::Label {
            merchant_sku: line.merchant_sku.clone(),
            name: line
                .name
                .clone()
                .or_else(|| line.title.clone())
                .unwrap_or_default(),
            quantity: line.quantity,
            gtin: line.gtin.clone(),
            caption: line.po_number.clone(),
        })
        .collect();
    let per = match args.per {
        LabelsPer::Unit => crate::labels::Per::Unit,
        LabelsPer::Line => crate::labels::Per::Line,
    };
    let size = crate::labels::LabelSize {
        width_mm: app.settings().labels.width_mm,
        height_mm: app.settings().labels.height_mm,
    };
    let font = match &app.settings().labels.font_path {
        Some(path) => Some(crate::labels::LabelFont::from_file(path)?),
        None => None,
    };
    if font.is_none() && crate::labels::needs_font(&labels) {
        eprintln!(
            "note: some names have characters Helvetica cannot show; set labels.font_path to a font that has them"
        );
    }
    let pdf = crate::labels::render_with_font(&labels, per, size, font.as_ref())?;
    std::fs::write(&args.out, pdf)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("{}: labels for receipt {}", args.out.display(), receipt.id);
    Ok(())
}

async fn warehouses(settings: Settings, command: WarehousesCommand) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let store = app.store();
    match command {
        WarehousesCommand::Add { code, name } => {
            let change = store
                .add_warehouse(&code, name.as_deref().unwrap_or(""))
                .await?;
            println!("warehouse {code}: {change:?}");
        }
        WarehousesCommand::List => {
            for w in store.list_warehouses().await? {
                println!(
                    "{} {} — {} purchase orders, {} units of {} SKUs in stock",
                    w.code,
                    w.name,
                    w.purchase_orders,
                    w.on_hand.normalize(),
                    w.skus_in_stock
                );
            }
        }
        WarehousesCommand::Delete { code, force } => {
            let d = store
                .delete_warehouse(&code, force)
                .await
                .map_err(crate::receive::rejection)?;
            println!(
                "warehouse {code} deleted with {} purchase orders ({} 1688 orders will not be synced again), {} receipts",
                d.purchase_orders, d.tombstones, d.receipts
            );
        }
        WarehousesCommand::Stock { code } => {
            for row in store.inventory(&code).await? {
                println!(
                    "{:<20} {:>10}  {}",
                    row.merchant_sku,
                    row.on_hand.normalize(),
                    row.name.as_deref().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

async fn orders(settings: Settings, command: OrdersCommand) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let store = app.store();
    match command {
        OrdersCommand::Create {
            account,
            supplier,
            warehouse,
            lines,
            note,
            address_id,
            place,
        } => {
            let lines = lines
                .iter()
                .map(|l| crate::domain::purchasing::WantedLine::parse(l))
                .collect::<Result<Vec<_>, _>>()?;
            let request = crate::purchasing::CreateRequest {
                account,
                supplier,
                warehouse,
                lines,
                note,
                address_id,
            };
            let order = crate::purchasing::create(&app, &request).await?;
            println!(
                "{}: draft created with {} lines",
                order.po_number,
                order.lines.len()
            );
            if place {
                print_placed(&crate::purchasing::place(&app, &order.po_number).await?);
            }
        }
        OrdersCommand::Place { po_number } => {
            print_placed(&crate::purchasing::place(&app, &po_number).await?);
        }
        OrdersCommand::Edit {
            po_number,
            note,
            clear_note,
            warehouse,
            lines,
        } => {
            let note = if clear_note {
                Some(None)
            } else {
                note.map(Some)
            };
            let lines = if lines.is_empty() {
                None
            } else {
                Some(
                    lines
                        .iter()
                        .map(|l| crate::domain::purchasing::WantedLine::parse(l))
                        .collect::<Result<Vec<_>, _>>()?,
                )
            };
            let order = crate::purchasing::edit(&app, &po_number, note, warehouse, lines).await?;
            println!(
                "{}: draft updated ({} lines)",
                order.po_number,
                order.lines.len()
            );
        }
        OrdersCommand::Submit { po_numbers } => {
            let mut refused = 0;
            for outcome in crate::purchasing::submit(&app, &po_numbers).await? {
                match outcome.result {
                    Ok(()) => println!("{}: on_the_way", outcome.po_number),
                    Err(reason) => {
                        refused += 1;
                        println!("{}: refused: {reason}", outcome.po_number);
                    }
                }
            }
            if refused > 0 {
                anyhow::bail!(
                    "{refused} of {} orders were not submitted",
                    po_numbers.len()
                );
            }
        }
        OrdersCommand::Trace { po_number } => {
            let order = store
                .find_order_by_po_number(&po_number)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no purchase order {po_number}"))?;
            let account = order
                .account
                .clone()
                .ok_or_else(|| anyhow::anyhow!("{po_number} is not a 1688 order"))?;
            let mut ids = store
                .placing_state(&po_number)
                .await?
                .map(|s| s.order_ids_1688)
                .unwrap_or_default();
            if ids.is_empty() {
                ids.extend(order.order_id_1688);
            }
            if ids.is_empty() {
                anyhow::bail!("{po_number} has no 1688 order yet");
            }
            let client = app.client(&account)?;
            let tz = app.settings().sync.timezone;
            for id in ids {
                let traces = client.traces(id).await?;
                if traces.is_empty() {
                    println!("1688 order {id}: no parcel has moved yet");
                }
                for trace in traces {
                    println!(
                        "1688 order {id}, parcel {}:",
                        trace.tracking_no.as_deref().unwrap_or("?")
                    );
                    for (at, remark) in trace.steps {
                        let at = at
                            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_default();
                        println!("  {at}  {remark}");
                    }
                }
            }
        }
        OrdersCommand::Cancel { po_number } => {
            let ids = crate::purchasing::cancel(&app, &po_number).await?;
            println!(
                "{po_number}: 1688 orders {ids:?} cancelled; the next sync marks the purchase order cancelled"
            );
        }
        OrdersCommand::SetTracking {
            po_number,
            tracking_no,
            carrier,
        } => {
            let new = store
                .add_tracking_number(
                    &po_number,
                    &tracking_no,
                    carrier.as_deref(),
                    crate::domain::receiving::TrackingSource::Manual,
                )
                .await
                .map_err(crate::receive::rejection)?;
            let what = if new { "recorded" } else { "already recorded" };
            println!("{po_number}: tracking number {tracking_no} {what}");
        }
        OrdersCommand::Import1688 {
            account,
            order_id,
            warehouse,
        } => {
            let outcome = crate::sync::import_one(&app, &account, order_id, &warehouse).await?;
            println!(
                "1688 order {order_id} of `{account}`: {} into warehouse {warehouse}",
                if outcome.inserted > 0 {
                    "imported"
                } else if outcome.updated > 0 {
                    "updated"
                } else {
                    "already present"
                }
            );
        }
    }
    Ok(())
}

fn print_placed(placed: &crate::purchasing::Placed) {
    if placed.already {
        println!(
            "{}: already placed as 1688 orders {:?}; nothing new was ordered",
            placed.po_number, placed.order_ids
        );
        return;
    }
    println!(
        "{}: placed as 1688 orders {:?}",
        placed.po_number, placed.order_ids
    );
    match &placed.pay_url {
        Some(url) => println!("Pay on 1688: {url}"),
        None => println!("Pay for it on 1688 (the orders wait unpaid)."),
    }
}

async fn accounts(settings: Settings, command: AccountsCommand) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let tz = app.settings().sync.timezone;
    let day = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "unknown".into())
    };
    match command {
        AccountsCommand::List => {
            if app.settings().daemon.state_dir.is_none() {
                eprintln!(
                    "note: no state directory: tokens are not kept between runs (set daemon.state_dir)"
                );
            }
            for account in &app.settings().accounts {
                let status = app.client(&account.name)?.token_status().await;
                println!("{}", account.name);
                if !status.connected {
                    println!(
                        "  not connected: run `sync1688 accounts connect --account {}`",
                        account.name
                    );
                    continue;
                }
                println!(
                    "  authorized by   {} ({})",
                    status.resource_owner.as_deref().unwrap_or("unknown"),
                    status.member_id.as_deref().unwrap_or("member id unknown")
                );
                println!(
                    "  refresh token   expires {}",
                    day(status.refresh_token_expires_at)
                );
                println!(
                    "  access token    expires {}",
                    day(status.access_token_expires_at)
                );
                if let Some(reason) = status.refused {
                    println!("  refused         {reason}");
                }
            }
        }
        AccountsCommand::Addresses { account, refresh } => {
            let addresses = crate::purchasing::addresses(&app, &account, refresh).await?;
            if addresses.is_empty() {
                anyhow::bail!(
                    "the 1688 account `{account}` has no receiving address: add one on 1688, then run this again with --refresh"
                );
            }
            for a in addresses {
                println!(
                    "{}{} {} {} {} {}",
                    if a.is_default { "* " } else { "  " },
                    a.id,
                    a.full_name,
                    a.address_code_text.as_deref().unwrap_or(""),
                    a.address,
                    a.mobile.or(a.phone).unwrap_or_default()
                );
            }
        }
        AccountsCommand::Connect {
            account,
            listen,
            timeout,
        } => {
            let client = app.client(&account)?;
            let settings = app
                .settings()
                .account(&account)
                .expect("the client exists, so does the account");
            let connection = crate::accounts::Connection::begin(settings);
            println!(
                "Open this page in a browser signed in to the 1688 buyer account `{account}`:\n\n  {}\n",
                connection.url()
            );
            let timeout = std::time::Duration::from_secs(timeout);
            let code = match listen {
                Some(addr) => {
                    let addr = if addr == "redirect" {
                        connection.redirect_addr().ok_or_else(|| {
                            anyhow::anyhow!(
                                "redirect_uri {} names no address to listen on; give --listen ADDR",
                                connection.redirect_uri()
                            )
                        })?
                    } else {
                        addr.parse().with_context(|| {
                            format!("--listen {addr} is not an address such as 127.0.0.1:8690")
                        })?
                    };
                    println!(
                        "Waiting for 1688 to send the browser to {} (listening on {addr}) …",
                        connection.redirect_uri()
                    );
                    connection.receive(addr, timeout).await?
                }
                None => {
                    println!(
                        "After authorizing, 1688 sends the browser to {}.",
                        connection.redirect_uri()
                    );
                    println!("Paste that whole address (or just its code) here and press Enter:");
                    let line = tokio::task::spawn_blocking(|| {
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line).map(|_| line)
                    })
                    .await
                    .context("cannot read the terminal")??;
                    connection.code_from_pasted(&line)?
                }
            };
            let grant = connection.finish(&client, &code).await?;
            println!(
                "Connected `{account}`: authorized by {} ({}); the refresh token expires {}.",
                grant.resource_owner.as_deref().unwrap_or("unknown"),
                grant.member_id.as_deref().unwrap_or("member id unknown"),
                day(grant.refresh_token_expires_at)
            );
            match &app.settings().daemon.state_dir {
                Some(dir) => println!(
                    "The token is kept in {}; a running daemon picks it up.",
                    dir.display()
                ),
                None => println!(
                    "warning: no state directory is configured, so the token is not kept (set daemon.state_dir)"
                ),
            }
        }
    }
    Ok(())
}

fn print_mapping_change(what: &str, change: &MappingChange) {
    println!(
        "{what}: {} mappings added, {} updated; {} waiting lines of {} orders now mapped",
        change.inserted, change.updated, change.lines_remapped, change.orders_remapped
    );
}

async fn mappings(settings: Settings, command: MappingsCommand) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let store = app.store();
    match command {
        MappingsCommand::Set {
            offer_id,
            spec_id,
            merchant_sku,
            ratio,
            force,
        } => {
            let spec_id = if spec_id == "-" {
                String::new()
            } else {
                spec_id
            };
            let text = format!("{offer_id},{spec_id},{merchant_sku},{ratio}\n");
            let rows = imports::parse_mappings(&text).map_err(|problems| {
                let problems: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
                anyhow::anyhow!("{}", problems.join("; "))
            })?;
            let change = store
                .set_mappings(&rows, force)
                .await
                .map_err(|e| match e {
                    crate::store::StoreError::InvalidRow { message, .. } => {
                        anyhow::anyhow!(message)
                    }
                    other => other.into(),
                })?;
            print_mapping_change(
                &format!("offer {offer_id} spec `{spec_id}` → {merchant_sku}"),
                &change,
            );
        }
        MappingsCommand::Import { file, force } => {
            let change = imports::import_mappings_file(store.as_ref(), &file, force).await?;
            print_mapping_change(&file.display().to_string(), &change);
        }
        MappingsCommand::Export { file } => {
            let mut rows: Vec<SkuMapping> = store.load_mappings().await?;
            rows.sort_by(|a, b| (a.offer_id, &a.spec_id).cmp(&(b.offer_id, &b.spec_id)));
            let text = imports::mappings_csv(&rows);
            match file {
                Some(path) => {
                    std::fs::write(&path, text)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("{}: {} mappings written", path.display(), rows.len());
                }
                None => print!("{text}"),
            }
        }
        MappingsCommand::Delete { offer_id, spec_id } => {
            let spec_id = if spec_id == "-" {
                String::new()
            } else {
                spec_id
            };
            if !store.delete_mapping(offer_id, &spec_id).await? {
                anyhow::bail!("offer {offer_id} spec `{spec_id}` has no mapping");
            }
            println!(
                "offer {offer_id} spec `{spec_id}`: mapping deleted (lines already mapped keep their merchant SKU)"
            );
        }
        MappingsCommand::Unmapped { limit } => {
            let items = store.unmapped_items(limit).await?;
            if items.is_empty() {
                println!("no line waits on a mapping");
            }
            let tz = app.settings().sync.timezone;
            for item in items {
                let spec = if item.spec_id.is_empty() {
                    "-".to_owned()
                } else {
                    item.spec_id.clone()
                };
                println!(
                    "{} {} {} lines in {} orders, oldest {}  {} {}",
                    item.offer_id,
                    spec,
                    item.lines,
                    item.orders,
                    item.oldest_order_at
                        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d").to_string())
                        .unwrap_or_else(|| "?".into()),
                    item.title,
                    item.attributes
                );
            }
        }
    }
    Ok(())
}

async fn products(settings: Settings, command: ProductsCommand) -> ExitCode {
    let result = async {
        let app = Application::build(settings).await?;
        let store = app.store();
        let (account, inputs) = match command {
            ProductsCommand::List { offer } => {
                for sku in store.product_skus(offer).await? {
                    let spec = if sku.spec_id.is_empty() {
                        "-".to_owned()
                    } else {
                        sku.spec_id.clone()
                    };
                    println!(
                        "{} {} {} {} {} → {}",
                        sku.offer_id,
                        spec,
                        sku.supplier_login_id,
                        sku.price
                            .map(|p| p.to_string())
                            .unwrap_or_else(|| "?".into()),
                        format!("{} {}", sku.subject, sku.attributes).trim(),
                        sku.merchant_sku.as_deref().unwrap_or("(unmapped)")
                    );
                }
                return Ok(true);
            }
            ProductsCommand::Add { account, offers } => (
                account,
                offers
                    .into_iter()
                    .enumerate()
                    .map(|(i, o)| (i + 1, o))
                    .collect(),
            ),
            ProductsCommand::Import { account, file } => {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                (account, crate::products::offers_in_file(&text))
            }
        };
        let client = app.client(&account)?;
        let rows = crate::products::add_products(store.as_ref(), &client, inputs).await;
        for row in &rows {
            let offer = row
                .offer_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| row.input.clone());
            println!("line {}: {offer}: {}", row.line, row.outcome);
        }
        let failed = rows.iter().filter(|r| r.failed()).count();
        if failed > 0 {
            eprintln!(
                "sync1688: {failed} of {} rows failed; the others were added",
                rows.len()
            );
        }
        Ok::<_, anyhow::Error>(failed == 0)
    }
    .await;
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => report(Err(e)),
    }
}

async fn suppliers(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    for s in app.store().list_suppliers().await? {
        println!(
            "{} {} {} — {} products, {} purchase orders",
            s.login_id_1688,
            s.member_id_1688.as_deref().unwrap_or("-"),
            s.name.as_deref().unwrap_or(""),
            s.products,
            s.purchase_orders
        );
    }
    Ok(())
}

/// What an operator wants to see first: who syncs each account, how far change tracking
/// got, and how the last runs went.
async fn status(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let store = app.store();
    let tz = app.settings().sync.timezone;
    let local = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()
    };
    let leases = store.leases().await?;
    let runs = store.recent_runs(200).await?;
    for account in &app.settings().accounts {
        println!(
            "{} (schedule \"{}\", {})",
            account.name,
            account.schedule,
            tz.name()
        );
        let lease = leases.iter().find(|l| l.account == account.name);
        match lease.and_then(|l| l.owner.as_deref().zip(l.lease_until)) {
            Some((owner, until)) if until > chrono::Utc::now() => {
                println!("  lease          held by {owner} until {}", local(until))
            }
            _ => println!("  lease          free"),
        }
        match store.change_cursor(&account.name).await? {
            Some(cursor) => println!("  changes since  {}", local(cursor)),
            None => println!("  changes since  (not tracked yet)"),
        }
        let mine: Vec<_> = runs
            .iter()
            .filter(|r| r.account == account.name)
            .take(5)
            .collect();
        if mine.is_empty() {
            println!("  runs           none yet");
        }
        for r in mine {
            let c = &r.counts;
            println!(
                "  run {:<6} {} {:<8} {:<9} seen {} inserted {} updated {}{}",
                r.id,
                local(r.started_at),
                r.kind,
                r.status,
                c.orders_seen,
                c.orders_inserted,
                c.orders_updated,
                r.error
                    .as_deref()
                    .map(|e| format!(" — {e}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

async fn healthcheck(settings: &Settings, args: HealthcheckArgs) -> ExitCode {
    let url = args
        .url
        .unwrap_or_else(|| crate::http::local_readyz_url(settings.http.listen));
    crate::http::healthcheck(&url, std::time::Duration::from_secs(args.timeout)).await
}

async fn sandbox_command(args: SandboxArgs) -> anyhow::Result<()> {
    telemetry::init("info", crate::config::LogFormat::Text);
    let config = sandbox::SandboxConfig {
        app_key: args.app_key,
        app_secret: args.app_secret,
        refresh_token: args.refresh_token,
        orders: args.orders,
        lines_per_order: args.lines_per_order,
        days: args.days,
        seed: args.seed,
        error_rate: args.error_rate,
        latency: std::time::Duration::from_millis(args.latency_ms),
        rate_limit_qps: args.rate_limit,
        prerender: args.prerender,
        ..sandbox::SandboxConfig::default()
    };
    sandbox::serve_forever(config, args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))
}

async fn bench_command(args: BenchArgs) -> ExitCode {
    telemetry::init("warn", crate::config::LogFormat::Text);
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return report(Err(anyhow::anyhow!("cannot find this executable: {e}"))),
    };
    let defaults = bench::BenchOptions::default();
    let options = bench::BenchOptions {
        exe,
        postgres_url: args.postgres_url,
        scenarios: if args.only.is_empty() {
            defaults.scenarios
        } else {
            args.only
        },
        orders: args.orders,
        lines_per_order: args.lines_per_order,
        mapped_share: args.mapped_share,
        api_orders: args.api_orders,
        api_latency_ms: args.api_latency_ms,
        api_rate: args.api_rate,
        idle_accounts: args.idle_accounts,
        seed: args.seed,
    };
    let figures = match bench::run(&options).await {
        Ok(figures) => figures,
        Err(e) => return report(Err(e)),
    };
    print!("{}", figures.table());
    if let Some(path) = &args.write {
        let command = format!("cargo run --release -- bench --write {}", path.display());
        if let Err(e) = std::fs::write(path, figures.markdown(&command)) {
            eprintln!("sync1688: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    if figures.targets_missed() > 0 {
        eprintln!("sync1688: {} target(s) missed", figures.targets_missed());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn demo_command(args: DemoArgs) -> anyhow::Result<()> {
    telemetry::init("warn", crate::config::LogFormat::Text);
    let options = demo::DemoOptions {
        orders: args.orders,
        seed: args.seed,
        db: args.db,
    };
    let mut out = std::io::stdout().lock();
    demo::run(&options, &mut out).await?;
    Ok(())
}
