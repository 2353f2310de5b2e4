//! The sandbox's sellers and offers: Chinese wholesale listings with SKU attributes, as
//! a buyer sees them in order lines (1688-open-api.md §4.1 `productItems`) and in
//! `alibaba.cross.productInfo` (§6).
//!
//! [`generate`] draws sellers, offers and SKUs from the `catalogue` stream; the orders
//! are drawn from them. [`add_listings`] then adds what only the product APIs show
//! (minimum order quantity, price breaks, stock, status, times) from a stream of its
//! own, so that it never shifts the ids, prices or orders of a seed.

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rust_decimal::Decimal;

use super::rng::SplitMix64;

/// One seller (a 1688 shop), the supplier of an order.
#[derive(Debug, Clone)]
pub(crate) struct Seller {
    pub member_id: String,
    pub user_id: i64,
    pub login_id: String,
    pub company: String,
    pub shop: String,
    pub contact: String,
    pub mobile: String,
    pub phone: String,
    pub province: &'static str,
    pub city: &'static str,
    pub area: &'static str,
    pub address: String,
}

/// One offer (a listing). Offers without SKUs have a single [`Sku`] with no ids.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub offer_id: i64,
    pub title: String,
    pub unit: &'static str,
    pub seller: usize,
    /// The `O1CN01…` part of the image file name.
    pub image: String,
    pub skus: Vec<usize>,
    /// `categoryID`, `categoryName` (a leaf category).
    pub category: (i64, &'static str),
    /// What `alibaba.cross.productInfo` adds; filled in by [`add_listings`].
    pub listing: Listing,
}

/// How 1688 prices an offer (`saleInfo.quoteType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum QuoteType {
    /// 0: no SKUs, priced by quantity.
    #[default]
    ByQuantity,
    /// 1: SKUs with a price each; quantity does not change it.
    BySpec,
    /// 2: SKUs sharing one price, priced by quantity.
    SkusByQuantity,
}

impl QuoteType {
    pub(crate) fn code(self) -> u8 {
        match self {
            QuoteType::ByQuantity => 0,
            QuoteType::BySpec => 1,
            QuoteType::SkusByQuantity => 2,
        }
    }
}

/// The statuses [`super::SandboxHandle::set_offer_status`] accepts: the values of
/// `productInfo.status` a client has to expect.
pub(crate) const OFFER_STATUSES: &[&str] = &[
    "published",
    "expired",
    "deleted",
    "member expired",
    "auto expired",
    "member deleted",
    "auditing",
    "untread",
    "TBD",
];

/// The product-side facts of an offer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Listing {
    /// `saleInfo.minOrderQuantity`.
    pub min_order_quantity: u32,
    /// `saleInfo.priceRanges` as (startQuantity, price in yuan), ascending; the first
    /// starts at the minimum order quantity and its price is the cheapest SKU's.
    pub price_ranges: Vec<(u32, Decimal)>,
    pub quote_type: QuoteType,
    pub mix_wholesale: bool,
    /// The generated status (`published`, `expired` or `deleted`); the handle can
    /// override it.
    pub status: &'static str,
    /// Kilograms.
    pub unit_weight: Decimal,
    pub freight_template_id: i64,
    /// `image.images`: paths relative to `https://cbu01.alicdn.com/`, the first the
    /// image order lines show.
    pub images: Vec<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// One orderable variant of an offer.
#[derive(Debug, Clone)]
pub(crate) struct Sku {
    pub offer: usize,
    /// `skuID`; `None` for offers without SKUs.
    pub sku_id: Option<i64>,
    /// `specId`, 32 hex digits; `None` for offers without SKUs.
    pub spec_id: Option<String>,
    pub attributes: Vec<(String, String)>,
    pub price: Decimal,
    pub cargo_number: String,
    /// `amountOnSale`; filled in by [`add_listings`].
    pub stock: i64,
    /// `retailPrice` (suggested retail, yuan); filled in by [`add_listings`].
    pub retail_price: Decimal,
}

#[derive(Debug, Clone)]
pub(crate) struct Catalogue {
    pub sellers: Vec<Seller>,
    pub offers: Vec<Offer>,
    pub skus: Vec<Sku>,
}

impl Catalogue {
    pub(crate) fn offer_of(&self, sku: usize) -> &Offer {
        &self.offers[self.skus[sku].offer]
    }

    pub(crate) fn seller_of(&self, sku: usize) -> &Seller {
        &self.sellers[self.offer_of(sku).seller]
    }

    /// The index of an offer by its id.
    pub(crate) fn offer_index(&self, offer_id: i64) -> Option<usize> {
        self.offers.iter().position(|o| o.offer_id == offer_id)
    }

    /// `productCargoNumber`: the offer's own cargo number, which SKUs extend with `-n`
    /// (an offer without SKUs has just the one its order lines show).
    pub(crate) fn product_cargo_number(&self, offer: &Offer) -> &str {
        let first = &self.skus[offer.skus[0]];
        if first.spec_id.is_none() {
            return &first.cargo_number;
        }
        first
            .cargo_number
            .split_once('-')
            .map_or(first.cargo_number.as_str(), |(base, _)| base)
    }

    /// Finds a SKU by offer id and spec id (`""` for offers without SKUs).
    pub(crate) fn find(&self, offer_id: i64, spec_id: &str) -> Option<usize> {
        let offer = self.offers.iter().find(|o| o.offer_id == offer_id)?;
        offer
            .skus
            .iter()
            .copied()
            .find(|&s| self.skus[s].spec_id.as_deref().unwrap_or("") == spec_id)
    }

    /// The SKU attributes as the ERP stores them: `name:value` joined by `; `.
    pub(crate) fn attributes_text(&self, sku: usize) -> String {
        self.skus[sku]
            .attributes
            .iter()
            .map(|(n, v)| format!("{n}:{v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// `productImgUrl`: the 80x80 thumbnail and the full-size image, as 1688 lists them.
    pub(crate) fn image_urls(&self, sku: usize) -> [String; 2] {
        let offer = self.offer_of(sku);
        let seller = &self.sellers[offer.seller];
        let base = format!(
            "https://cbu01.alicdn.com/img/ibank/O1CN01{}_!!{}-0-cib",
            offer.image, seller.user_id
        );
        [format!("{base}.80x80.jpg"), format!("{base}.jpg")]
    }
}

struct Template {
    name: &'static str,
    /// The leaf category: `categoryID`, `categoryName`.
    category: (i64, &'static str),
    unit: &'static str,
    /// Price range of the cheapest variant, in fen.
    price_fen: (i64, i64),
    dims: &'static [(&'static str, &'static [&'static str])],
    /// Whether later values of the last dimension cost more (sizes, capacities, packs).
    graded: bool,
}

struct Category {
    trade: &'static str,
    templates: &'static [Template],
}

const COLOURS: &[&str] = &[
    "黑色",
    "白色",
    "深灰色",
    "藏青色",
    "军绿色",
    "杏色",
    "酒红色",
    "天蓝色",
];

const CATEGORIES: &[Category] = &[
    Category {
        trade: "服饰",
        templates: &[
            Template {
                name: "纯棉短袖T恤男 宽松圆领打底衫",
                category: (127380009, "男式T恤"),
                unit: "件",
                price_fen: (980, 2500),
                dims: &[("颜色", COLOURS), ("尺码", &["M", "L", "XL", "2XL", "3XL"])],
                graded: false,
            },
            Template {
                name: "冰丝阔腿裤女 夏季薄款垂感休闲裤",
                category: (127390003, "女式休闲裤"),
                unit: "条",
                price_fen: (1650, 3200),
                dims: &[
                    ("颜色", &["黑色", "杏色", "灰色", "咖啡色"]),
                    ("尺码", &["S", "M", "L", "XL"]),
                ],
                graded: false,
            },
            Template {
                name: "儿童防晒衣 UPF50+轻薄透气外套",
                category: (121764001, "童装外套"),
                unit: "件",
                price_fen: (1890, 3500),
                dims: &[
                    ("颜色", &["粉色", "天蓝色", "浅绿色"]),
                    ("尺码", &["100cm", "110cm", "120cm", "130cm"]),
                ],
                graded: true,
            },
            Template {
                name: "纯棉中筒袜 男女款吸汗防臭",
                category: (1038378, "袜子"),
                unit: "双",
                price_fen: (150, 420),
                dims: &[("颜色", &["黑色", "白色", "灰色"]), ("尺码", &["均码"])],
                graded: false,
            },
        ],
    },
    Category {
        trade: "电子",
        templates: &[
            Template {
                name: "Type-C数据线 6A快充编织线",
                category: (1043599, "手机数据线"),
                unit: "条",
                price_fen: (260, 690),
                dims: &[
                    ("颜色", &["黑色", "白色"]),
                    ("规格", &["1米", "1.5米", "2米"]),
                ],
                graded: true,
            },
            Template {
                name: "20W PD快充充电头 适用苹果安卓",
                category: (1043600, "手机充电器"),
                unit: "个",
                price_fen: (650, 1380),
                dims: &[("规格", &["单头", "套装(含线)"])],
                graded: true,
            },
            Template {
                name: "无线蓝牙耳机 入耳式长续航",
                category: (1046756, "蓝牙耳机"),
                unit: "个",
                price_fen: (2200, 4800),
                dims: &[("颜色", &["黑色", "白色", "粉色"])],
                graded: false,
            },
            Template {
                name: "手机支架 桌面懒人折叠支架",
                category: (124194006, "手机支架"),
                unit: "个",
                price_fen: (190, 880),
                dims: &[],
                graded: false,
            },
        ],
    },
    Category {
        trade: "家居用品",
        templates: &[
            Template {
                name: "桌面收纳盒 抽屉式化妆品置物架",
                category: (1046687, "收纳盒"),
                unit: "个",
                price_fen: (560, 1500),
                dims: &[
                    ("颜色", &["白色", "透明"]),
                    ("规格", &["小号", "中号", "大号"]),
                ],
                graded: true,
            },
            Template {
                name: "304不锈钢保温杯 大容量便携水杯",
                category: (1042754, "保温杯"),
                unit: "只",
                price_fen: (1200, 2600),
                dims: &[
                    ("颜色", &["黑色", "白色", "莫兰迪蓝", "樱花粉"]),
                    ("容量", &["350ml", "500ml", "750ml"]),
                ],
                graded: true,
            },
            Template {
                name: "硅胶锅铲 耐高温不粘锅专用",
                category: (1042769, "锅铲"),
                unit: "把",
                price_fen: (320, 780),
                dims: &[],
                graded: false,
            },
            Template {
                name: "真空压缩袋 加厚衣物收纳袋",
                category: (1046688, "真空压缩袋"),
                unit: "个",
                price_fen: (180, 520),
                dims: &[("规格", &["60*80cm", "70*100cm", "80*110cm"])],
                graded: true,
            },
        ],
    },
    Category {
        trade: "包装材料",
        templates: &[
            Template {
                name: "快递袋 加厚防水灰色包装袋",
                category: (1042173, "快递袋"),
                unit: "包",
                price_fen: (850, 1900),
                dims: &[("规格", &["25*35cm 100只", "32*45cm 100只", "38*52cm 50只"])],
                graded: true,
            },
            Template {
                name: "气泡膜 防震包装卷装",
                category: (1042174, "气泡膜"),
                unit: "卷",
                price_fen: (1800, 3600),
                dims: &[("规格", &["30cm宽", "50cm宽"])],
                graded: true,
            },
            Template {
                name: "封箱胶带 透明4.5cm宽",
                category: (1032896, "封箱胶带"),
                unit: "卷",
                price_fen: (120, 350),
                dims: &[],
                graded: false,
            },
        ],
    },
    Category {
        trade: "饰品",
        templates: &[
            Template {
                name: "韩版珍珠发夹 刘海边夹",
                category: (126138001, "发夹"),
                unit: "个",
                price_fen: (45, 260),
                dims: &[("颜色", &["白珍珠", "金色", "银色"])],
                graded: false,
            },
            Template {
                name: "925银耳钉 小众设计简约耳饰",
                category: (126136002, "耳钉"),
                unit: "对",
                price_fen: (380, 1600),
                dims: &[("款式", &["A款", "B款", "C款", "D款"])],
                graded: false,
            },
            Template {
                name: "钛钢项链 男女款不褪色",
                category: (126136003, "项链"),
                unit: "条",
                price_fen: (520, 1800),
                dims: &[("长度", &["45cm", "50cm", "60cm"])],
                graded: true,
            },
        ],
    },
    Category {
        trade: "玩具",
        templates: &[
            Template {
                name: "解压捏捏乐 慢回弹卡通公仔",
                category: (121776003, "解压玩具"),
                unit: "个",
                price_fen: (120, 480),
                dims: &[("款式", &["小猫", "小狗", "兔子", "小熊"])],
                graded: false,
            },
            Template {
                name: "儿童大颗粒积木 拼装益智玩具",
                category: (121776004, "积木"),
                unit: "套",
                price_fen: (1500, 3800),
                dims: &[("规格", &["60粒", "120粒", "200粒"])],
                graded: true,
            },
            Template {
                name: "全自动泡泡机 电动泡泡枪",
                category: (121776005, "泡泡机"),
                unit: "个",
                price_fen: (880, 1990),
                dims: &[],
                graded: false,
            },
        ],
    },
    Category {
        trade: "文具",
        templates: &[
            Template {
                name: "中性笔0.5mm 黑色签字笔12支装",
                category: (1036814, "中性笔"),
                unit: "盒",
                price_fen: (390, 900),
                dims: &[],
                graded: false,
            },
            Template {
                name: "活页笔记本 可拆卸记事本",
                category: (1036815, "笔记本"),
                unit: "本",
                price_fen: (260, 980),
                dims: &[("规格", &["A5", "B5"]), ("颜色", &["奶白", "雾蓝", "浅粉"])],
                graded: false,
            },
            Template {
                name: "彩色便利贴 N次贴留言贴",
                category: (1036816, "便利贴"),
                unit: "包",
                price_fen: (80, 260),
                dims: &[],
                graded: false,
            },
        ],
    },
    Category {
        trade: "宠物用品",
        templates: &[
            Template {
                name: "瓦楞纸猫抓板 耐磨不掉屑",
                category: (124226009, "猫抓板"),
                unit: "个",
                price_fen: (450, 1500),
                dims: &[("规格", &["小号", "大号"])],
                graded: true,
            },
            Template {
                name: "宠物牵引绳 反光胸背带",
                category: (124226010, "宠物牵引绳"),
                unit: "条",
                price_fen: (690, 1800),
                dims: &[
                    ("颜色", &["红色", "蓝色", "黑色"]),
                    ("尺码", &["S", "M", "L"]),
                ],
                graded: false,
            },
            Template {
                name: "宠物尿垫 加厚吸水100片",
                category: (124226011, "宠物尿垫"),
                unit: "包",
                price_fen: (1680, 3900),
                dims: &[("规格", &["S号", "M号", "L号"])],
                graded: true,
            },
        ],
    },
];

const PREFIXES: &[&str] = &[
    "2026新款",
    "厂家直销",
    "跨境专供",
    "批发",
    "爆款",
    "",
    "亚马逊热卖",
    "源头工厂",
];
const SUFFIXES: &[&str] = &[
    "一件代发",
    "现货批发",
    "外贸跨境",
    "",
    "工厂直供",
    "可定制logo",
];
const BRANDS: &[&str] = &[
    "鑫达",
    "佳美",
    "恒源",
    "优品汇",
    "金诺",
    "博远",
    "雅诺",
    "盛世",
    "宏图",
    "锦程",
    "致远",
    "康乐",
    "瑞丰",
    "海纳",
];
/// (province, city, district, short name, telephone area code)
const PLACES: &[(&str, &str, &str, &str, &str)] = &[
    ("浙江省", "金华市", "义乌市", "义乌", "0579"),
    ("广东省", "广州市", "白云区", "广州", "020"),
    ("广东省", "深圳市", "龙岗区", "深圳", "0755"),
    ("浙江省", "台州市", "黄岩区", "台州", "0576"),
    ("江苏省", "苏州市", "常熟市", "常熟", "0512"),
    ("福建省", "泉州市", "晋江市", "晋江", "0595"),
    ("山东省", "临沂市", "兰山区", "临沂", "0539"),
    ("广东省", "汕头市", "澄海区", "汕头", "0754"),
    ("浙江省", "宁波市", "慈溪市", "慈溪", "0574"),
    ("广东省", "东莞市", "虎门镇", "东莞", "0769"),
];
const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"];
const GIVEN: &[&str] = &["丽", "强", "敏", "静", "伟", "芳", "军", "燕", "磊", "娟"];
const STREETS: &[&str] = &["工业园区", "经济开发区", "商贸城", "科技园", "创业园"];

/// Builds the catalogue: 8–12 sellers and 40–80 offers, a few of them without SKUs.
pub(crate) fn generate(rng: &mut SplitMix64) -> Catalogue {
    let n_sellers = rng.range(8, 12) as usize;
    let n_offers = rng.range(40, 80) as usize;

    let mut brands: Vec<&str> = BRANDS.to_vec();
    rng.shuffle(&mut brands);
    let mut sellers = Vec::with_capacity(n_sellers);
    let mut seller_category = Vec::with_capacity(n_sellers);
    for (i, brand) in brands.iter().take(n_sellers).enumerate() {
        // Every category gets a seller before any gets a second one.
        let category = if i < CATEGORIES.len() {
            i
        } else {
            rng.index(CATEGORIES.len())
        };
        let (province, city, area, short, area_code) = *rng.pick(PLACES);
        let trade = CATEGORIES[category].trade;
        let user_id = rng.range(1_600_000_000, 2_299_999_999);
        let contact = format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN));
        // Real login ids are as often Chinese shop names as pinyin handles.
        let login_id = if rng.chance(0.6) {
            format!("{short}{brand}{trade}")
        } else {
            format!(
                "{}{}",
                ["shop", "ali", "cn", "tb"][rng.index(4)],
                rng.digits(8)
            )
        };
        sellers.push(Seller {
            member_id: format!("b2b-{user_id}"),
            user_id,
            login_id,
            company: format!("{city}{brand}{trade}有限公司"),
            shop: format!("{brand}{trade}厂"),
            mobile: format!(
                "1{}{}",
                ["38", "39", "58", "86", "77"][rng.index(5)],
                rng.digits(8)
            ),
            phone: format!("{area_code}-{}", rng.digits(8)),
            contact,
            province,
            city,
            area,
            address: format!("{}{}{}号", area, rng.pick(STREETS), rng.range(1, 388)),
        });
        seller_category.push(category);
    }

    // At least three offers per seller, the rest spread at random.
    let mut per_seller = vec![3usize; n_sellers];
    for _ in 0..n_offers.saturating_sub(3 * n_sellers) {
        per_seller[rng.index(n_sellers)] += 1;
    }

    let mut offers = Vec::with_capacity(n_offers);
    let mut skus = Vec::new();
    let mut seen_offer_ids = std::collections::HashSet::new();
    let mut seen_sku_ids = std::collections::HashSet::new();
    for (seller, count) in per_seller.iter().copied().enumerate() {
        let templates = CATEGORIES[seller_category[seller]].templates;
        for _ in 0..count {
            let template = rng.pick(templates);
            let title = format!(
                "{}{}{}",
                rng.pick(PREFIXES),
                template.name,
                rng.pick(SUFFIXES)
            );
            let offer_id = loop {
                let id = rng.range(520_000_000_000, 799_999_999_999);
                if seen_offer_ids.insert(id) {
                    break id;
                }
            };
            let offer_index = offers.len();
            let base_fen = rng.range(template.price_fen.0, template.price_fen.1) / 5 * 5;
            let mut offer = Offer {
                offer_id,
                title,
                unit: template.unit,
                seller,
                image: alnum(rng, 22),
                skus: Vec::new(),
                category: template.category,
                listing: Listing::default(),
            };
            // Some sellers list even a variant product as a single SKU-less offer.
            let without_skus = template.dims.is_empty() || rng.chance(0.06);
            let cargo_base = format!(
                "{}{}",
                ["HX", "YW", "SZ", "JD", "KM"][rng.index(5)],
                rng.digits(4)
            );
            if without_skus {
                offer.skus.push(skus.len());
                skus.push(Sku {
                    offer: offer_index,
                    sku_id: None,
                    spec_id: None,
                    attributes: Vec::new(),
                    price: Decimal::new(base_fen, 2),
                    cargo_number: cargo_base,
                    stock: 0,
                    retail_price: Decimal::ZERO,
                });
            } else {
                // A listing offers a subset of the template's values, in order.
                let dims: Vec<(&str, Vec<(usize, &str)>)> = template
                    .dims
                    .iter()
                    .map(|(name, values)| {
                        let len = values.len() as i64;
                        let keep = rng.range((len + 1) / 2, len) as usize;
                        let mut picked: Vec<(usize, &str)> =
                            values.iter().copied().enumerate().collect();
                        rng.shuffle(&mut picked);
                        picked.truncate(keep);
                        picked.sort_unstable_by_key(|(i, _)| *i);
                        (*name, picked)
                    })
                    .collect();
                let last = dims.len() - 1;
                for combo in cartesian(&dims) {
                    let grade = if template.graded {
                        combo[last].0 as i64
                    } else {
                        0
                    };
                    let price_fen = (base_fen + base_fen * grade * 15 / 100) / 5 * 5;
                    let sku_id = loop {
                        let id = rng.range(3_000_000_000_000, 5_999_999_999_999);
                        if seen_sku_ids.insert(id) {
                            break id;
                        }
                    };
                    offer.skus.push(skus.len());
                    skus.push(Sku {
                        offer: offer_index,
                        sku_id: Some(sku_id),
                        spec_id: Some(rng.hex(32)),
                        attributes: dims
                            .iter()
                            .zip(&combo)
                            .map(|((name, _), (_, value))| (name.to_string(), value.to_string()))
                            .collect(),
                        price: Decimal::new(price_fen, 2),
                        cargo_number: format!("{cargo_base}-{}", offer.skus.len()),
                        stock: 0,
                        retail_price: Decimal::ZERO,
                    });
                }
            }
            offers.push(offer);
        }
    }

    // The ERP must handle offers without SKUs (spec id ""): make sure a few exist.
    let mut without = offers
        .iter()
        .filter(|o| skus[o.skus[0]].spec_id.is_none())
        .count();
    let mut i = 0;
    while without < 3 && i < offers.len() {
        if skus[offers[i].skus[0]].spec_id.is_some() {
            let keep = offers[i].skus[0];
            skus[keep].sku_id = None;
            skus[keep].spec_id = None;
            skus[keep].attributes.clear();
            offers[i].skus.truncate(1);
            without += 1;
        }
        i += 7;
    }

    Catalogue {
        sellers,
        offers,
        skus,
    }
}

/// Minimum order quantities and how often sellers choose them.
const MIN_ORDER_QUANTITIES: &[u32] = &[1, 2, 3, 5, 10, 20];
const MIN_ORDER_WEIGHTS: &[u32] = &[40, 12, 10, 15, 15, 8];
/// Candidate quantities for the second and third price break.
const SECOND_BREAKS: &[u32] = &[10, 20, 30, 50, 100];
const THIRD_BREAKS: &[u32] = &[100, 200, 300, 500, 1000];

/// Adds the product-side facts (1688-open-api.md §6) to every offer and SKU, drawing
/// only from `rng` (its own stream): a minimum order quantity, price breaks, stock per
/// SKU, a suggested retail price, weight, images, times (before `anchor`), and the
/// status: a few offers `expired` and one `deleted`, never one of the first seller's
/// (which [`super::SandboxHandle::insert_order`] uses by default).
pub(crate) fn add_listings(c: &mut Catalogue, anchor: DateTime<Utc>, rng: &mut SplitMix64) {
    for index in 0..c.offers.len() {
        let skus = c.offers[index].skus.clone();
        let prices: Vec<Decimal> = skus.iter().map(|&s| c.skus[s].price).collect();
        let cheapest = prices.iter().copied().min().expect("an offer has a SKU");
        let quote_type = if c.skus[skus[0]].spec_id.is_none() {
            QuoteType::ByQuantity
        } else if prices.iter().all(|p| *p == cheapest) {
            QuoteType::SkusByQuantity
        } else {
            QuoteType::BySpec
        };
        let moq = MIN_ORDER_QUANTITIES[rng.weighted(MIN_ORDER_WEIGHTS)];
        let mut price_ranges = vec![(moq, cheapest)];
        // Priced per SKU, an offer has no quantity breaks: its one range states the
        // minimum order quantity and the "from" price.
        if quote_type != QuoteType::BySpec {
            let breaks = rng.range(2, 3);
            let mut fen = to_fen(cheapest);
            for candidates in [SECOND_BREAKS, THIRD_BREAKS]
                .iter()
                .take(breaks as usize - 1)
            {
                let last = price_ranges.last().expect("one range").0;
                let above: Vec<u32> = candidates.iter().copied().filter(|q| *q > last).collect();
                if above.is_empty() {
                    break;
                }
                let quantity = above[rng.index(above.len())];
                let cut = (fen * rng.range(3, 12) / 100).max(1);
                if fen - cut < 1 {
                    break;
                }
                fen -= cut;
                price_ranges.push((quantity, Decimal::new(fen, 2)));
            }
        }
        // Suggested retail: about twice the wholesale price, ending in .9.
        let markup = rng.range(16, 26);
        for &s in &skus {
            let sku = &mut c.skus[s];
            sku.stock = match rng.weighted(&[6, 14, 50, 30]) {
                0 => 0,
                1 => rng.range(1, 50),
                2 => rng.range(50, 5_000),
                _ => rng.range(5_000, 99_999),
            };
            let retail_fen = (to_fen(sku.price) * markup / 10 + 99) / 100 * 100 - 10;
            sku.retail_price = Decimal::new(retail_fen.max(to_fen(sku.price) + 10), 2);
        }
        let user_id = c.sellers[c.offers[index].seller].user_id;
        let mut images = vec![format!(
            "img/ibank/O1CN01{}_!!{user_id}-0-cib.jpg",
            c.offers[index].image
        )];
        for _ in 0..rng.range(2, 4) {
            images.push(format!(
                "img/ibank/O1CN01{}_!!{user_id}-0-cib.jpg",
                alnum(rng, 22)
            ));
        }
        // Listed months or years ago, last edited at least a day before the anchor.
        let created = anchor
            - ChronoDuration::days(rng.range(120, 1500))
            - ChronoDuration::seconds(rng.range(0, 86_399));
        let edited_within = (anchor - ChronoDuration::days(1) - created).num_seconds();
        let updated = created + ChronoDuration::seconds(rng.range(0, edited_within));
        c.offers[index].listing = Listing {
            min_order_quantity: moq,
            price_ranges,
            quote_type,
            mix_wholesale: rng.chance(0.5),
            status: "published",
            unit_weight: Decimal::new(rng.range(20, 1_500), 3),
            freight_template_id: rng.range(10_000_000, 29_999_999),
            images,
            created,
            updated,
        };
    }

    // A few offers went offline: still in the buyer's old orders, no longer buyable.
    // They changed recently, so that the orders of the last days predate the change.
    let mut candidates: Vec<usize> = (0..c.offers.len())
        .filter(|&i| c.offers[i].seller != 0)
        .collect();
    rng.shuffle(&mut candidates);
    let expired = rng.range(2, 3) as usize;
    for (n, &i) in candidates.iter().take(expired + 1).enumerate() {
        let listing = &mut c.offers[i].listing;
        listing.status = if n == 0 { "deleted" } else { "expired" };
        listing.updated = anchor - ChronoDuration::seconds(rng.range(60, 3_600));
    }
}

fn to_fen(yuan: Decimal) -> i64 {
    use rust_decimal::prelude::ToPrimitive;
    (yuan * Decimal::ONE_HUNDRED)
        .to_i64()
        .expect("a catalogue price fits in fen")
}

fn cartesian<'a>(dims: &[(&str, Vec<(usize, &'a str)>)]) -> Vec<Vec<(usize, &'a str)>> {
    let mut out: Vec<Vec<(usize, &str)>> = vec![Vec::new()];
    for (_, values) in dims {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(*v);
                    p
                })
            })
            .collect();
    }
    out
}

fn alnum(rng: &mut SplitMix64, n: usize) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    (0..n)
        .map(|_| CHARS[rng.index(CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_the_promised_shape_for_many_seeds() {
        for seed in 0..50 {
            let c = generate(&mut SplitMix64::new(seed));
            assert!(
                (8..=12).contains(&c.sellers.len()),
                "seed {seed}: {} sellers",
                c.sellers.len()
            );
            assert!(
                (40..=80).contains(&c.offers.len()),
                "seed {seed}: {} offers",
                c.offers.len()
            );
            let without = c
                .offers
                .iter()
                .filter(|o| c.skus[o.skus[0]].spec_id.is_none())
                .count();
            assert!(without >= 3, "seed {seed}: {without} offers without SKUs");
            for sku in &c.skus {
                assert!(sku.price > Decimal::ZERO);
                assert!(sku.price.scale() <= 2);
                if let Some(spec) = &sku.spec_id {
                    assert_eq!(spec.len(), 32);
                    assert!(!sku.attributes.is_empty());
                    assert!(sku.sku_id.is_some());
                } else {
                    assert!(sku.sku_id.is_none());
                    assert_eq!(c.offers[sku.offer].skus.len(), 1);
                }
            }
            for o in &c.offers {
                let specs: std::collections::HashSet<_> =
                    o.skus.iter().map(|&s| &c.skus[s].spec_id).collect();
                assert_eq!(
                    specs.len(),
                    o.skus.len(),
                    "spec ids are unique within an offer"
                );
            }
        }
    }

    fn anchor() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-04-20T01:30:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn listed(seed: u64) -> Catalogue {
        let mut c = generate(&mut SplitMix64::new(seed));
        add_listings(&mut c, anchor(), &mut SplitMix64::new(seed ^ 0xff));
        c
    }

    #[test]
    fn listings_leave_ids_prices_and_attributes_as_generated() {
        let bare = generate(&mut SplitMix64::new(5));
        let c = listed(5);
        let key = |c: &Catalogue| -> Vec<_> {
            c.skus
                .iter()
                .map(|s| {
                    (
                        c.offers[s.offer].offer_id,
                        s.sku_id,
                        s.spec_id.clone(),
                        s.attributes.clone(),
                        s.price,
                        s.cargo_number.clone(),
                    )
                })
                .collect()
        };
        assert_eq!(key(&bare), key(&c));
    }

    #[test]
    fn listings_have_the_promised_shape_for_many_seeds() {
        for seed in 0..50 {
            let c = listed(seed);
            let count = |status: &str| {
                c.offers
                    .iter()
                    .filter(|o| o.listing.status == status)
                    .count()
            };
            assert_eq!(count("deleted"), 1, "seed {seed}");
            assert!((2..=3).contains(&count("expired")), "seed {seed}");
            assert!(
                c.offers
                    .iter()
                    .filter(|o| o.seller == 0)
                    .all(|o| o.listing.status == "published")
            );
            for o in &c.offers {
                let l = &o.listing;
                let prices: Vec<Decimal> = o.skus.iter().map(|&s| c.skus[s].price).collect();
                let cheapest = *prices.iter().min().unwrap();
                assert!(MIN_ORDER_QUANTITIES.contains(&l.min_order_quantity));
                assert_eq!(l.price_ranges[0], (l.min_order_quantity, cheapest));
                for w in l.price_ranges.windows(2) {
                    assert!(w[0].0 < w[1].0 && w[0].1 > w[1].1, "seed {seed}: {w:?}");
                }
                match l.quote_type {
                    QuoteType::BySpec => assert_eq!(l.price_ranges.len(), 1),
                    _ => assert!((2..=3).contains(&l.price_ranges.len())),
                }
                assert_eq!(
                    l.quote_type == QuoteType::ByQuantity,
                    c.skus[o.skus[0]].spec_id.is_none()
                );
                assert!(l.created <= l.updated);
                assert!(l.updated < anchor());
                assert!(l.unit_weight > Decimal::ZERO);
                assert!(l.images.len() >= 3);
                assert!(l.images[0].contains(&o.image));
                for &s in &o.skus {
                    assert!((0..=99_999).contains(&c.skus[s].stock));
                    assert!(c.skus[s].retail_price > c.skus[s].price);
                }
            }
        }
    }

    #[test]
    fn an_offer_without_skus_keeps_its_order_cargo_number_as_the_products() {
        let c = listed(1688);
        for o in &c.offers {
            let first = &c.skus[o.skus[0]];
            let cargo = c.product_cargo_number(o);
            if first.spec_id.is_none() {
                assert_eq!(cargo, first.cargo_number);
            } else {
                assert!(!cargo.contains('-'));
                assert!(first.cargo_number.starts_with(&format!("{cargo}-")));
            }
        }
    }

    #[test]
    fn attributes_read_as_name_value_pairs() {
        let c = generate(&mut SplitMix64::new(1688));
        let with = c.skus.iter().position(|s| s.attributes.len() == 2).unwrap();
        let text = c.attributes_text(with);
        assert_eq!(text.matches(':').count(), 2);
        assert!(text.contains("; "));
    }
}
