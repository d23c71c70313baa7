"""The raw material of synthetic people: names, departments, job titles, offices, phone formats.

Japanese names come as (kanji, romaji) pairs: the display name is written in kanji ("山田 太郎", surname first)
and the user principal name is romanized ("taro.yamada"), as Japanese tenants usually do it.
"""

from __future__ import annotations

from typing import NamedTuple


class JapaneseName(NamedTuple):
    kanji: str
    romaji: str


class Department(NamedTuple):
    name: str
    slug: str  # ASCII, for group mail nicknames


class Country(NamedTuple):
    code: str  # usageLocation (ISO 3166-1 alpha-2)
    offices: tuple[str, ...]
    languages: tuple[str, ...]  # preferredLanguage, most common first
    business_phone: str  # str.format template taking two numbers 0..9999
    mobile_phone: str


class Company(NamedTuple):
    display_name: str
    slug: str


JAPANESE_SURNAMES: tuple[JapaneseName, ...] = tuple(
    JapaneseName(kanji, romaji)
    for kanji, romaji in (
        ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"), ("伊藤", "ito"),
        ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"), ("小林", "kobayashi"), ("加藤", "kato"),
        ("吉田", "yoshida"), ("山田", "yamada"), ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"),
        ("井上", "inoue"), ("木村", "kimura"), ("林", "hayashi"), ("斎藤", "saito"), ("清水", "shimizu"),
        ("山崎", "yamazaki"), ("森", "mori"), ("池田", "ikeda"), ("橋本", "hashimoto"), ("阿部", "abe"),
        ("石川", "ishikawa"), ("山下", "yamashita"), ("中島", "nakajima"), ("石井", "ishii"), ("小川", "ogawa"),
        ("前田", "maeda"), ("岡田", "okada"), ("長谷川", "hasegawa"), ("藤田", "fujita"), ("後藤", "goto"),
        ("近藤", "kondo"), ("村上", "murakami"), ("遠藤", "endo"), ("青木", "aoki"), ("坂本", "sakamoto"),
        ("斉藤", "saito"), ("福田", "fukuda"), ("太田", "ota"), ("西村", "nishimura"), ("藤井", "fujii"),
        ("金子", "kaneko"), ("岡本", "okamoto"), ("藤原", "fujiwara"), ("中野", "nakano"), ("三浦", "miura"),
        ("原田", "harada"), ("中川", "nakagawa"), ("松田", "matsuda"), ("竹内", "takeuchi"), ("小野", "ono"),
        ("田村", "tamura"), ("中山", "nakayama"), ("和田", "wada"), ("石田", "ishida"), ("森田", "morita"),
        ("上田", "ueda"), ("原", "hara"), ("内田", "uchida"), ("柴田", "shibata"), ("酒井", "sakai"),
        ("宮崎", "miyazaki"), ("横山", "yokoyama"), ("高木", "takagi"), ("安藤", "ando"), ("宮本", "miyamoto"),
        ("大野", "ono"), ("小松", "komatsu"), ("島田", "shimada"), ("工藤", "kudo"), ("高野", "takano"),
    )
)  # fmt: skip

JAPANESE_GIVEN_NAMES: tuple[JapaneseName, ...] = tuple(
    JapaneseName(kanji, romaji)
    for kanji, romaji in (
        ("太郎", "taro"), ("一郎", "ichiro"), ("健太", "kenta"), ("翔太", "shota"), ("大輔", "daisuke"),
        ("拓也", "takuya"), ("直樹", "naoki"), ("誠", "makoto"), ("浩", "hiroshi"), ("健一", "kenichi"),
        ("達也", "tatsuya"), ("和也", "kazuya"), ("裕介", "yusuke"), ("亮", "ryo"), ("蓮", "ren"),
        ("悠真", "yuma"), ("湊", "minato"), ("陽翔", "haruto"), ("大翔", "hiroto"), ("隆", "takashi"),
        ("修", "osamu"), ("学", "manabu"), ("剛", "tsuyoshi"), ("聡", "satoshi"), ("健", "ken"),
        ("雄一", "yuichi"), ("正樹", "masaki"), ("秀樹", "hideki"), ("洋平", "yohei"), ("慎也", "shinya"),
        ("花子", "hanako"), ("陽子", "yoko"), ("恵子", "keiko"), ("裕子", "yuko"), ("美咲", "misaki"),
        ("愛", "ai"), ("結衣", "yui"), ("さくら", "sakura"), ("陽菜", "hina"), ("葵", "aoi"),
        ("真由美", "mayumi"), ("由美", "yumi"), ("明美", "akemi"), ("直美", "naomi"), ("香織", "kaori"),
        ("麻衣", "mai"), ("彩", "aya"), ("美穂", "miho"), ("智子", "tomoko"), ("千尋", "chihiro"),
        ("優子", "yuko"), ("奈々", "nana"), ("恵", "megumi"), ("里奈", "rina"), ("沙織", "saori"),
        ("久美子", "kumiko"), ("綾香", "ayaka"), ("未来", "miku"), ("凛", "rin"), ("翼", "tsubasa"),
    )
)  # fmt: skip

ENGLISH_GIVEN_NAMES: tuple[str, ...] = (
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles",
    "Daniel", "Matthew", "Anthony", "Mark", "Paul", "Steven", "Andrew", "Joshua", "Kevin", "Brian",
    "George", "Edward", "Oliver", "Harry", "Jack", "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth",
    "Barbara", "Susan", "Jessica", "Sarah", "Karen", "Nancy", "Lisa", "Emily", "Emma", "Olivia",
    "Sophie", "Grace", "Chloe", "Hannah", "Rachel", "Laura", "Megan", "Anna", "Priya", "Wei",
    "Mei", "Lukas", "Anja", "Jürgen", "Zoë", "Renée", "Siobhan", "Rahul", "Aisha", "Noah",
)  # fmt: skip

ENGLISH_SURNAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green", "Baker",
    "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips", "Evans", "Turner",
    "Tan", "Lim", "Ng", "Wong", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "O'Brien",
    "Patel", "Sharma", "Chen", "Nguyen", "Kowalski", "Dubois", "Rossi", "Svensson", "Murphy", "Kelly",
)  # fmt: skip

JAPANESE_DEPARTMENTS: tuple[Department, ...] = (
    Department("営業部", "sales"),
    Department("経理部", "accounting"),
    Department("人事部", "hr"),
    Department("情報システム部", "it"),
    Department("総務部", "general-affairs"),
    Department("法務部", "legal"),
    Department("経営企画部", "corporate-planning"),
    Department("開発部", "development"),
    Department("製造部", "manufacturing"),
    Department("品質保証部", "quality"),
    Department("購買部", "procurement"),
    Department("マーケティング部", "marketing"),
    Department("カスタマーサポート部", "support"),
    Department("研究開発本部", "rnd"),
)

ENGLISH_DEPARTMENTS: tuple[Department, ...] = (
    Department("Sales", "sales-intl"),
    Department("Finance", "finance"),
    Department("Human Resources", "people"),
    Department("IT", "it-intl"),
    Department("Marketing", "marketing-intl"),
    Department("Engineering", "engineering"),
    Department("Legal", "legal-intl"),
    Department("Operations", "operations"),
    Department("Customer Success", "customer-success"),
    Department("Research & Development", "research"),
)

JAPANESE_JOB_TITLES: tuple[str, ...] = (
    "担当", "担当", "担当", "主任", "主任", "係長", "課長", "課長代理", "次長", "部長",
    "主査", "マネージャー", "シニアエンジニア", "本部長", "執行役員",
)  # fmt: skip

ENGLISH_JOB_TITLES: tuple[str, ...] = (
    "Analyst", "Engineer", "Senior Engineer", "Specialist", "Consultant", "Coordinator", "Manager",
    "Senior Manager", "Director", "Account Executive", "Administrator", "Vice President",
)  # fmt: skip

JAPAN = Country(
    "JP",
    ("東京本社", "東京本社", "東京本社", "大阪支社", "名古屋支店", "福岡営業所", "札幌営業所", "横浜事業所"),
    ("ja-JP", "ja-JP", "ja-JP", "ja-JP", "en-US"),
    "+81 3-{0:04d}-{1:04d}",
    "+81 90-{0:04d}-{1:04d}",
)

# Where the English-named staff sit, with weights: overseas offices, and some in Japan.
OVERSEAS: tuple[tuple[Country, int], ...] = (
    (Country("US", ("Seattle", "New York", "San Jose"), ("en-US",), "+1 206 555 {1:04d}", "+1 425 555 {0:04d}"), 30),
    (Country("GB", ("London",), ("en-GB",), "+44 20 7946 {1:04d}", "+44 7700 9{0:04d}"), 18),
    (Country("SG", ("Singapore",), ("en-SG", "en-US"), "+65 6{0:03d} {1:04d}", "+65 9{0:03d} {1:04d}"), 15),
    (Country("DE", ("München", "Frankfurt"), ("de-DE", "en-US"), "+49 89 {0:04d} {1:04d}", "+49 151 {1:04d}"), 12),
    (Country("AU", ("Sydney",), ("en-AU",), "+61 2 {0:04d} {1:04d}", "+61 4{0:02d} {1:04d}"), 7),
    (Country("IN", ("Bengaluru",), ("en-IN", "en-US"), "+91 80 {0:04d} {1:04d}", "+91 98{0:03d} {1:04d}"), 5),
    (JAPAN, 25),
)

GUEST_DOMAINS: tuple[str, ...] = (
    "gmail.com", "outlook.com", "partner-consulting.co.jp", "fabrikam.com", "vendor-sg.com.sg",
    "auditfirm.jp", "agency-example.co.uk", "supplier.de",
)  # fmt: skip

COMPANIES: tuple[Company, ...] = (
    Company("Contoso 株式会社", "contoso"),
    Company("Fabrikam Japan", "fabrikam"),
    Company("Northwind Traders 株式会社", "northwind"),
    Company("Tailspin Toys", "tailspin"),
    Company("Adventure Works Japan", "adventureworks"),
    Company("Woodgrove 銀行", "woodgrove"),
    Company("Litware 株式会社", "litware"),
    Company("Proseware", "proseware"),
)

GROUP_PURPOSES_JA: tuple[str, ...] = ("全員", "管理職", "プロジェクト", "勉強会", "連絡網", "共有", "承認者")
GROUP_PURPOSES_EN: tuple[str, ...] = ("All", "Managers", "Project", "Team", "Announcements", "Share", "Approvers")
SECURITY_GROUP_PURPOSES: tuple[str, ...] = (
    "VPN-Users", "FileServer-RW", "FileServer-RO", "MFA-Exempt", "Intune-Pilot", "Printers", "Wi-Fi", "SaaS-Admins",
)  # fmt: skip
