"""The offline extractor: entities, relations and summaries from rules, with no model or network.

Runs when no LLM is configured. Entities are capitalised name spans, acronyms and dates, typed
by honorifics, a given-name list, name suffixes, small gazetteers and the words around them.
Relations join entities of one sentence and are labelled by the verb phrase between them.
Everything is deterministic: the same text gives the same extraction.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from graphmill.cognify.types import Entity, Extraction, Relation

PERSON, ORGANIZATION, LOCATION, DATE, CONCEPT = (
    "Person",
    "Organization",
    "Location",
    "Date",
    "Concept",
)
MENTIONED_WITH = "mentioned_with"  # two entities of one sentence that no verb phrase links
DESCRIPTION_CHARS = 300


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _phrases(text: str) -> frozenset[str]:
    return frozenset(p.strip() for p in text.split("|") if p.strip())


# --- word lists ----------------------------------------------------------------------------
# Function words, by the part they play in a verb phrase.
_DETS = _set("""a an the this that these those its his her their our my your some any each every
 all both either neither no another such several many much more most few fewer less least other
 own one two three four five six seven eight nine ten dozens hundreds thousands millions part""")
_QUANTIFIERS = _set("one some many most all much part each none both several few any half rest")
_PRONOUNS = _set("he she it they we i you him them us me itself himself herself themselves")
_PREPS = _set("""of in on at to for with by from into onto about against between among through
 throughout during under over after before since until till across near within without upon
 toward towards via behind beyond alongside amid despite per than around along off aboard inside
 outside beneath beside besides like unlike except as up down out away back""")
_CONJ = _set("and or but nor")
_SUBORD = _set("while although though because whereas unless if when whenever once whether")
_RELATIVE = _set("who whom whose which that where")
_BE = _set("is are was were be been being am")
_HAVE = _set("has have had having")
_DO = _set("do does did")
_MODALS = _set("will would can could shall should may might must")
_AUX = _BE | _HAVE | _DO | _MODALS
_ADVERBS = _set("""not never also later then now still already often always sometimes usually
 soon again once twice together further first ago long just even almost nearly only yet""")
_NOT_ADVERB_LY = _set("""family italy july only early supply apply reply rely fly ally rally
 assembly monopoly anomaly butterfly lily holy ugly belly jelly""")
_FUNCTION = _DETS | _PRONOUNS | _PREPS | _CONJ | _SUBORD | _RELATIVE | _AUX | _ADVERBS
_FUNCTION |= _set("""there here what why how however meanwhile moreover furthermore today
 yesterday tomorrow last next former late then thus hence instead according following despite
 eventually indeed perhaps also so not nor yet please whichever whoever whatever wherever""")

# Verbs: a base form, or "base:past:participle" for irregular ones. Regular forms are derived.
_VERB_LEXICON = """accept accuse achieve acquire act add admit adopt advise affect agree aim allow
 announce answer appear apply appoint approve argue arrange arrive ask assume attack attempt
 attend attract avoid award ban base battle be:was:been bear:bore:born beat:beat:beaten
 become:became:become begin:began:begun believe belong bid:bid:bid block boost borrow
 break:broke:broken bring:brought:brought build:built:built burn buy:bought:bought call cancel
 capture care carry catch:caught:caught cause celebrate challenge change charge chase choose:chose:
 chosen claim clear close collaborate collapse collect combine come:came:come comment commit
 compare compete complete compose confirm connect consider consist contain continue contribute
 control convert convince cooperate cost:cost:cost cover create criticise criticize cross cut:cut:
 cut deal:dealt:dealt decide declare decline defeat defend deliver demand deny depend describe
 design destroy develop die direct discover discuss dismiss display distribute divide
 do:did:done donate draw:drew:drawn drive:drove:driven drop earn eat:ate:eaten elect emerge
 employ enable encourage end endorse engage enjoy enter escape establish estimate examine expand
 expect experience explain explore export express extend face fail fall:fell:fallen feature
 feel:felt:felt fight:fought:fought file fill finance find:found:found finish fire fix flee:fled:
 fled flow fly:flew:flown focus follow force forget:forgot:forgotten form found fund gain gather
 generate get:got:got give:gave:given go:went:gone govern grant grow:grew:grown guide handle
 happen have:had:had head hear:heard:heard help hire hit:hit:hit hold:held:held host hurt:hurt:
 hurt identify ignore impose improve include increase influence inform inherit injure
 install intend introduce invade invent invest investigate invite involve issue join keep:kept:
 kept kill know:knew:known land launch lead:led:led learn leave:left:left lend:lent:lent let:let:
 let lie:lay:lain like limit link list live locate lose:lost:lost love maintain make:made:made
 manage manufacture mark marry measure meet:met:met merge mention migrate mine miss move name
 need negotiate nominate note notice obtain occupy occur offer open operate oppose order
 organise organize originate overtake:overtook:overtaken own paint participate pass pay:paid:paid
 perform permit persuade pick place plan plant play point possess post predict prefer prepare
 present preserve prevent print produce promise promote propose protect protest prove provide
 publish pull purchase push put:put:put raise reach read:read:read receive recognise recognize
 recommend record recover reduce refer refuse regard reject relate release rely remain remove
 rename replace report represent require rescue research reside resign respond rest restore
 result retain retire return reveal review rise:rose:risen rule run:ran:run sail save say:said:
 said score search see:saw:seen seek:sought:sought seize select sell:sold:sold send:sent:sent
 serve set:set:set settle shape share shift ship shoot:shot:shot show sign sing:sang:sung
 sink:sank:sunk sit:sat:sat sleep:slept:slept slow speak:spoke:spoken spend:spent:spent
 split:split:split sponsor spread:spread:spread stand:stood:stood start stay steal:stole:stolen
 step stop store strike:struck:struck study submit succeed sue suffer suggest supply support
 surround survive suspend take:took:taken talk target teach:taught:taught tell:told:told
 terminate test testify thank think:thought:thought threaten throw:threw:thrown tour trade train
 transfer transform translate travel treat trigger try turn underestimate undergo:underwent:
 undergone understand:understood:understood unite unveil use visit vote wait want warn watch
 wear:wore:worn welcome win:won:won withdraw:withdrew:withdrawn work write:wrote:written"""
_DOUBLE_FINAL = _set("""admit ban commit control drop occur permit plan prefer refer ship step
 stop submit transfer travel cancel""")
# Verbs whose trailing date or place belongs to the thing made, bought or won ("X founded Y in
# 1998": Y was founded in 1998), not to the doer.
_OBJECT_ATTACH = _set("""found establish create build launch release publish write paint compose
 design develop invent discover introduce complete open sign sell acquire buy form make produce
 win share award receive record""")
_IN_NAME = frozenset((",", "'s", "’s", "&", "-", "–", "$", "€", "£"))
_ADJUNCT_PREPS = _set("in on at during since by")
_CLAUSE_PREPS = _set("after before since by without upon until")
_RECIPROCAL = _set("marry meet merge collaborate partner divorce cooperate compete")
_THE = _set("the its this that")
_SAY = _set("say said says tell told add added argue argued note noted state stated warn warned")
_NOT_VERB_ED = _set("""hundred bed red need seed speed feed shed indeed naked sacred wicked
 beloved kindred wed bred sled fled shred hatred ragged rugged""")
_NOT_VERB_ING = _set("""during morning evening thing nothing something anything everything king
 ring spring string ceiling sibling pudding darling viking wedding according including
 regarding concerning notwithstanding""")

_TITLES = _set("""mr mrs ms miss mx dr prof professor sir dame lord lady president vice prime
 minister chancellor senator sen rep representative congressman congresswoman governor gov mayor
 king queen prince princess emperor empress pope cardinal archbishop bishop rabbi imam reverend
 rev general gen colonel col lieutenant lt captain capt sergeant sgt admiral adm commander judge
 justice chief ceo cfo cto coo chairman chairwoman secretary ambassador attorney deputy foreign
 sheikh coach executive director founder""")
_ROLE_WORDS = _TITLES | _set("""senior former head managing analyst economist officer partner
 spokesman spokeswoman spokesperson leader owner editor manager""")
_PERSON_NOUNS = _set("""physicist chemist biologist scientist researcher engineer inventor
 mathematician astronomer economist analyst diplomat politician president senator lawyer judge
 writer author novelist poet playwright journalist painter artist sculptor composer musician
 singer actor actress director producer philosopher historian professor student teacher doctor
 physician surgeon explorer activist entrepreneur founder executive banker investor footballer
 player athlete coach emperor king queen leader spokesman spokeswoman minister chairman ceo
 official rapper designer architect programmer astronaut pilot""")
_ORG_NOUNS = _set("""company firm startup corporation group bank maker manufacturer producer
 retailer carrier airline agency organisation organization university institute charity network
 platform provider developer publisher broadcaster newspaper journal magazine lab laboratory
 conglomerate giant brand chain operator automaker carmaker insurer lender regulator club team
 party union lender insurer""")
_LOC_NOUNS = _set("""city capital town village country nation state province region island river
 mountain peak lake port district county kingdom republic desert""")
# Endings of English words that names hardly have: a capitalised sentence opener ending so is a
# word ("Photosynthesis", "Additive", "Deliberate").
_WORD_ENDINGS = tuple(
    _set("""ly ing ed sis tion sion ment ness ity able ible ive ous ful less ical
 ance ence ism ate ize ise est""")
)
_DIRECTIONS = _set("""north south east west northern southern eastern western central upper lower
 greater inner outer northeast northwest southeast southwest""")
_DEMONYM_ENDINGS = ("ese", "ish", "ian", "ean", "ican", "ani", "iot")
_NOT_NAME_ENDINGS = tuple(
    _set("""ous ive ion ity ism ics ment ness logy ing ical ial ary ory ware
 tech sis ed""")
)
_DEMONYMS = _set("""dutch french greek thai swiss welsh irish czech arab inuit basque maori""")

_MONTHS = _set("""january jan february feb march mar april apr may june jun july jul august aug
 september sep sept october oct november nov december dec""")
_DAYS = _set("monday tuesday wednesday thursday friday saturday sunday")
_ORDINALS = _set("""first second third fourth fifth sixth seventh eighth ninth tenth eleventh
 twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth""")
_DATE_PREPS = _set("""in since until till by from during of early late mid last next this before
 after between through to around circa c and or""")
_ERAS = _set("AD BC BCE CE A.D. B.C.")
_UNITS = _set("""km kg m cm mm g lb lbs mph metres meters miles feet ft tons tonnes people
 employees users visitors times hours minutes seconds units cars jobs percent""")

_CONNECTORS = _set("of de da di del della der den van von du la le les y bin ibn al")
_ORG_SUFFIX = _set("""inc incorporated corp corporation co company companies ltd limited llc llp
 plc gmbh ag sa nv bv ab spa group holdings university college institute institution academy
 school agency bank fund foundation association society council committee commission federation
 union league club party department ministry bureau office service services administration
 authority board court parliament congress senate assembly army navy police church hospital
 clinic laboratory laboratories labs lab museum library press times post journal news airlines
 airways motors electric electronics technologies systems industries enterprises partners
 capital ventures brothers bros studios records pictures entertainment media networks
 communications telecom pharmaceuticals pharma energy petroleum oil steel automotive aerospace
 software solutions consulting foods brands stores insurance securities investments trust
 exchange reserve nations organization organisation alliance coalition forces corps command
 magazine gazette herald tribune telegraph guardian""")
_ORG_HEADS = _set("""university institute bank college academy school agency foundation
 association society council committee commission federation ministry department bureau office
 centers center centre museum hospital laboratory""")
_LOC_SUFFIX = _set("""river sea ocean lake mountains mountain hills hill island islands isles
 peninsula desert valley bay gulf strait straits channel canal coast beach falls canyon forest
 park reef glacier volcano plateau plains basin delta street avenue road boulevard square bridge
 tower memorial monument cathedral palace castle temple mosque abbey airport station stadium
 arena theatre theater house hall heights county province region district territory city town
 village empire kingdom republic emirates""")
_LOC_HEADS = _set("mount mt lake cape isle gulf bay fort port san santa são sao los las")
_CONCEPT_SUFFIX = _set("""war prize award medal cup championship olympics games act treaty accord
 agreement protocol declaration constitution doctrine theory principle effect equation syndrome
 disease virus pandemic revolution crisis symphony sonata concerto telescope engine mission
 program programme project operation festival expo fair conference summit index""")
_CONCEPT_HEADS = _set("treaty battle siege theory declaration war")
_NON_ENTITY_ACRONYMS = _set("""CEO CFO CTO COO TV DVD CD PC USB GPS FAQ PDF AM PM OK ID PR HR IT
 VP MP MD PhD QA FYI ASAP GET POST PUT PATCH DELETE HEAD OPTIONS INFO DEBUG ENV TODO NB PS KB MB
 GB TB KiB MiB GiB TiB""")
_CONCEPT_ACRONYMS = _set("""AI DNA RNA HIV AIDS GDP COVID SARS CPU GPU API SQL HTML HTTP HTTPS CSS
 LED LLM ML NLP IOT VR AR SUV EV IPO ESG JSON XML YAML CSV URL URI UUID JWT TLS SSL SSH TCP UDP IP
 DNS CLI SDK ORM WAL RFC ASCII UTF SSE REST RPC OS RAM SSD LAN VPN IDE UI UX JS""")

_GIVEN_NAMES = _set("""james john robert michael william david richard joseph thomas charles
 christopher daniel matthew anthony mark donald steven steve paul andrew joshua kenneth kevin
 brian george timothy ronald edward jason jeffrey jeff ryan jacob gary nicholas eric jonathan
 stephen larry justin scott brandon benjamin samuel gregory alexander frank patrick raymond jack
 dennis jerry tyler aaron jose adam nathan henry douglas zachary peter kyle walter ethan jeremy
 harold keith christian roger noah gerald carl terry sean austin arthur lawrence jesse dylan
 bryan joe jordan billy bruce albert willie gabriel logan alan juan wayne roy ralph randy eugene
 vincent russell elijah louis bobby philip johnny bill tom tim jim mike dave bob ted ben sam tony
 nick alex max leo hugo oscar felix martin neil isaac ludwig wolfgang johann karl friedrich hans
 otto fritz pierre jean jacques francois françois claude michel antoine emmanuel nicolas
 giuseppe giovanni luca marco carlo leonardo galileo dante pablo diego carlos luis miguel javier
 manuel fernando alejandro rafael sergio sergey sergei vladimir dmitri ivan mikhail boris
 nikolai alexei igor yuri ahmed mohammed muhammad ali omar hassan hussein ibrahim yusuf mustafa
 abdul raj rahul amit sanjay vijay arjun ravi anil sunil narendra rajesh satya sundar wei hiroshi
 takeshi kenji akira kwame nelson desmond mary patricia jennifer linda elizabeth barbara susan
 jessica sarah karen nancy lisa betty margaret sandra ashley kimberly emily donna michelle
 dorothy carol amanda melissa deborah stephanie rebecca sharon laura cynthia kathleen amy
 shirley angela helen anna anne ann brenda pamela nicole emma samantha katherine catherine
 christine rachel carolyn janet virginia maria heather diane julie joyce victoria kelly
 christina joan evelyn lauren judith olivia frances martha megan andrea hannah jacqueline
 alice kathryn gloria teresa sara julia marie grace theresa rose diana natalie sophia sofia
 jane florence rosalind simone indira golda benazir malala fatima aisha priya isabella chloe
 mia charlotte amelia ella elena ingrid greta astrid ursula hillary kamala oprah serena
 margaret eleanor lucy sophie claire louise hélène isabelle monique""")

_LOCATIONS = _phrases("""afghanistan|albania|algeria|andorra|angola|argentina|armenia|australia|
 austria|azerbaijan|bahamas|bahrain|bangladesh|barbados|belarus|belgium|belize|benin|bhutan|
 bolivia|bosnia|botswana|brazil|brunei|bulgaria|burkina faso|burundi|cambodia|cameroon|canada|
 chad|chile|china|colombia|congo|costa rica|croatia|cuba|cyprus|czech republic|czechia|denmark|
 djibouti|dominican republic|ecuador|egypt|el salvador|eritrea|estonia|eswatini|ethiopia|fiji|
 finland|france|gabon|gambia|georgia|germany|ghana|greece|guatemala|guinea|guyana|haiti|
 honduras|hungary|iceland|india|indonesia|iran|iraq|ireland|israel|italy|jamaica|japan|jordan|
 kazakhstan|kenya|kosovo|kuwait|kyrgyzstan|laos|latvia|lebanon|lesotho|liberia|libya|
 liechtenstein|lithuania|luxembourg|madagascar|malawi|malaysia|maldives|mali|malta|mauritania|
 mauritius|mexico|moldova|monaco|mongolia|montenegro|morocco|mozambique|myanmar|namibia|nepal|
 netherlands|new zealand|nicaragua|niger|nigeria|north korea|north macedonia|norway|oman|
 pakistan|palestine|panama|papua new guinea|paraguay|peru|philippines|poland|portugal|qatar|
 romania|russia|rwanda|saudi arabia|senegal|serbia|sierra leone|singapore|slovakia|slovenia|
 somalia|south africa|south korea|south sudan|spain|sri lanka|sudan|suriname|sweden|
 switzerland|syria|taiwan|tajikistan|tanzania|thailand|togo|tunisia|turkey|turkmenistan|uganda|
 ukraine|united arab emirates|united kingdom|united states|united states of america|uruguay|
 uzbekistan|vatican|venezuela|vietnam|yemen|zambia|zimbabwe|england|scotland|wales|
 northern ireland|great britain|britain|america|korea|holland|us|usa|u.s.|uk|u.k.|uae|
 africa|asia|europe|north america|south america|latin america|antarctica|oceania|middle east|
 caribbean|scandinavia|balkans|siberia|north africa|west africa|east africa|southeast asia|
 east asia|central asia|south asia|eastern europe|western europe|silicon valley|
 alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|hawaii|idaho|
 illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|michigan|
 minnesota|mississippi|missouri|montana|nebraska|nevada|new hampshire|new jersey|new mexico|
 new york|north carolina|north dakota|ohio|oklahoma|oregon|pennsylvania|rhode island|
 south carolina|south dakota|tennessee|texas|utah|vermont|virginia|washington|west virginia|
 wisconsin|wyoming|ontario|quebec|british columbia|alberta|queensland|new south wales|
 tasmania|bavaria|catalonia|tuscany|sicily|siberia|tibet|kashmir|punjab|bengal|
 london|paris|berlin|madrid|rome|vienna|budapest|prague|warsaw|krakow|kraków|amsterdam|
 brussels|lisbon|dublin|edinburgh|glasgow|manchester|liverpool|birmingham|oxford|cambridge|
 munich|hamburg|frankfurt|cologne|zurich|geneva|bern|milan|naples|florence|venice|turin|
 barcelona|seville|valencia|athens|istanbul|ankara|moscow|saint petersburg|st. petersburg|kyiv|
 kiev|minsk|belgrade|bucharest|sofia|oslo|stockholm|copenhagen|helsinki|reykjavik|tallinn|riga|
 vilnius|zagreb|tokyo|osaka|kyoto|beijing|shanghai|hong kong|shenzhen|guangzhou|wuhan|seoul|
 taipei|bangkok|hanoi|ho chi minh city|jakarta|manila|kuala lumpur|delhi|new delhi|mumbai|
 bangalore|bengaluru|chennai|kolkata|hyderabad|karachi|lahore|islamabad|dhaka|kabul|tehran|
 baghdad|riyadh|dubai|abu dhabi|doha|jerusalem|tel aviv|beirut|damascus|cairo|lagos|abuja|
 nairobi|johannesburg|cape town|addis ababa|accra|casablanca|dakar|kinshasa|new york city|
 los angeles|chicago|houston|san francisco|seattle|boston|miami|atlanta|dallas|denver|detroit|
 philadelphia|phoenix|las vegas|san diego|austin|toronto|montreal|vancouver|ottawa|
 mexico city|são paulo|sao paulo|rio de janeiro|buenos aires|lima|bogotá|bogota|santiago|
 caracas|havana|sydney|melbourne|brisbane|perth|auckland|wellington|
 nile|danube|rhine|thames|seine|mississippi|yangtze|ganges|mekong|volga|sahara|gobi|kalahari|
 himalayas|alps|andes|rockies|pyrenees|urals|everest|mediterranean|pacific|atlantic|arctic|
 earth|moon|sun|mercury|venus|mars|jupiter|saturn|uranus|neptune""")
_ORGANIZATIONS = _phrases("""google|alphabet|apple|microsoft|amazon|meta|facebook|instagram|
 whatsapp|twitter|netflix|spotify|uber|lyft|airbnb|tesla|spacex|openai|anthropic|nvidia|intel|
 amd|ibm|oracle|sap|cisco|adobe|salesforce|samsung|sony|panasonic|toshiba|hitachi|nintendo|
 toyota|honda|nissan|hyundai|kia|bmw|volkswagen|mercedes-benz|daimler|porsche|audi|ford|
 ferrari|fiat|renault|peugeot|volvo|siemens|bosch|basf|bayer|nestlé|nestle|unilever|shell|bp|
 exxonmobil|chevron|aramco|walmart|costco|ikea|zara|nike|adidas|coca-cola|pepsico|mcdonald's|
 starbucks|disney|boeing|airbus|lockheed martin|pfizer|moderna|astrazeneca|novartis|roche|
 merck|gsk|sanofi|jpmorgan|goldman sachs|morgan stanley|citigroup|hsbc|barclays|deutsche bank|
 ubs|visa|mastercard|paypal|alibaba|tencent|baidu|huawei|xiaomi|bytedance|tiktok|nokia|
 ericsson|philips|reuters|bloomberg|bbc|cnn|nasa|esa|cern|nato|unesco|unicef|fbi|cia|nsa|imf|
 opec|interpol|wikipedia|harvard|yale|princeton|stanford|mit|european union|eu|united nations|
 un|world bank|red cross|federal reserve|european commission|supreme court|senate|congress|
 parliament|pentagon|kremlin""")

_LOCATIONS_AND_ORGANIZATIONS = {
    **dict.fromkeys(_ORGANIZATIONS, ORGANIZATION),
    **dict.fromkeys(_LOCATIONS, LOCATION),
}
_COMMON = _set("""about above across act action activity actually add addition administration
 admit adult affect after again against age agency agent ago agree agreement ahead air all allow
 almost alone along already also although always among amount analysis and animal another answer
 any anyone anything appear apply approach area argue arm around arrive art article artist as ask
 assume at attack attention attorney audience author authority available avoid away baby back
 bad bag ball bank bar base be beat beautiful because become bed before begin behavior behind
 believe benefit best better between beyond big bill billion bit black blood blue board body book
 born both box boy break bring brother budget build building business but buy by call camera
 campaign can cancer candidate capital car card care career carry case catch cause cell center
 central century certain certainly chair challenge chance change character charge check child
 children choice choose church citizen city civil claim class clear clearly close coach cold
 collection college color come commercial common community company compare computer concern
 condition conference congress consider consumer contain continue control cost could country
 couple course court cover create crime cultural culture cup current customer cut dark data
 daughter day dead deal death debate decade decide decision deep defense degree democratic
 describe design despite detail determine develop development die difference different
 difficult dinner direction director discover discuss discussion disease do doctor dog door down
 draw dream drive drop drug during each early east easy eat economic economy edge education
 effect effort eight either election else employee end energy enjoy enough enter entire
 environment environmental especially establish even evening event ever every everybody everyone
 everything evidence exactly example executive exist expect experience expert explain eye face
 fact factor fail fall family far fast father fear federal feel feeling few field fight figure
 fill film final finally financial find fine finger finish fire firm first fish five floor fly
 focus follow food foot for force foreign forget form former forward four free friend from front
 full fund future game garden gas general generation get girl give glass go goal good government
 great green ground group grow growth guess gun guy hair half hand hang happen happy hard have he
 head health hear heart heat heavy help her here herself high him himself his history hit hold
 home hope hospital hot hotel hour house how however huge human hundred husband idea identify if
 image imagine impact important improve in include including increase indeed indicate individual
 industry information inside instead institution interest interesting international interview
 into investment involve issue it item its itself job join just keep key kid kill kind kitchen
 know knowledge land language large last late later laugh law lawyer lay lead leader learn least
 leave left leg legal less let letter level lie life light like likely line list listen little
 live local long look lose loss lot love low machine magazine main maintain major majority make
 man manage management manager many market marriage material matter may maybe me mean measure
 media medical meet meeting member memory mention message method middle might military million
 mind minute miss mission model modern moment money month more morning most mother mouth move
 movement movie much music must my myself name nation national natural nature near nearly
 necessary need network never new news newspaper next nice night no none nor north not note
 nothing notice now number occur of off offer office officer official often oh oil ok old on once
 one only onto open operation opportunity option or order organization other others our out
 outside over own owner page pain painting paper parent part participant particular particularly
 partner party pass past patient pattern pay peace people per perform performance perhaps period
 person personal phone physical pick picture piece place plan plant play player point police
 policy political politics poor popular population position positive possible power practice
 prepare present president pressure pretty prevent price private probably problem process produce
 product production professional professor program project property protect prove provide public
 pull purpose push put quality question quickly quite race radio raise range rate rather reach
 read ready real reality realize really reason receive recent recently recognize record red
 reduce reflect region relate relationship religious remain remember remove report represent
 republican require research resource respond response responsibility rest result return reveal
 rich right rise risk road rock role room rule run safe same save say scene school science
 scientist score sea season seat second section security see seek seem sell send senior sense
 series serious serve service set seven several sex sexual shake share she shoot short shot
 should shoulder show side sign significant similar simple simply since sing single sister sit
 site situation six size skill skin small smile so social society soldier some somebody someone
 something sometimes son song soon sort sound source south southern space speak special specific
 speech spend sport spring staff stage stand standard star start state statement station stay
 step still stock stop store story strategy street strong structure student study stuff style
 subject success successful such suddenly suffer suggest summer support sure surface system table
 take talk task tax teach teacher team technology television tell ten tend term test than thank
 that the their them themselves then theory there these they thing think third this those though
 thought thousand threat three through throughout throw thus time to today together tonight too
 top total tough toward town trade traditional training travel treat treatment tree trial trip
 trouble true truth try turn two type under understand unit until up upon us use usually value
 various very victim view violence visit voice vote wait walk wall want war watch water way we
 weapon wear week weight well west western what whatever when where whether which while white who
 whole whom whose why wide wife will win wind window wish with within without woman wonder word
 work worker world worry would write writer wrong yard yeah year yes yet you young your yourself
 researchers scientists officials analysts experts investors shares sales prices profits
 coffee tea rain snow weather climate storm flood heavy light bright dark ancient modern early
 late northern eastern western local global annual daily weekly several most many much few
 last next first second third new old recent former current major minor key main top chief
 critics residents voters fans users customers farmers workers teachers doctors patients
 engineers astronomers geographers historians economists lawmakers regulators protesters
 despite following according using born based located founded revenue profit income earnings
 whichever whoever whatever wherever however otherwise hello world import export range vector
 internal external lifetime arguments argument texts text verify comma file files folder path
 value values default variable meaning field fields request response server client user users
 key keys token tokens item items list lists map string number count size limit limits mode
 option options setting settings feature features support code function class method object
 type types format output input log logs message messages query queries page pages view views
 link links image images node nodes edge edges graph graphs step steps task tasks job jobs run
 runs test tests check checks update updates delete create read write open close start stop
 note notes tip tips caution important see also more less after before
 headquarters website products services total note summary introduction conclusion overview
 background abstract methods discussion references table figure chapter section example warning
 error status version date location address email phone description""")

_STARTERS = frozenset(w.capitalize() for w in _FUNCTION) | {"I"}
_NEVER_SPLIT = _set("""mr mrs ms dr prof sen rep gov gen col lt sgt capt cmdr adm rev hon pres
 e.g i.e cf vs viz messrs mme mlle""")
_ABBREVIATIONS = _set("""inc ltd co corp bros llc jr sr st mt ft etc al approx dept est fig no
 nos vol pp ed eds jan feb mar apr jun jul aug sep sept oct nov dec ave blvd rd ca""")


@dataclass(frozen=True)
class _Verbs:
    past_of: dict[str, str]  # every form -> past tense: the canonical form in labels
    base_of: dict[str, str]  # every form -> base form
    base_forms: frozenset[str]  # "build", "builds": also nouns, so verbs only after a subject
    done_forms: frozenset[str]  # "built", "wrote", "written"
    participles: frozenset[str]  # "built", "written": passive when after "be" or before "by"


def _verb_tables() -> _Verbs:
    past_of: dict[str, str] = {}
    base_of: dict[str, str] = {}
    participles: set[str] = set()
    base_forms: set[str] = set()
    done_forms: set[str] = set()
    for entry in _VERB_LEXICON.split():
        base, *irregular = entry.split(":")
        if irregular:
            past, participle = irregular
        elif base in _DOUBLE_FINAL:
            past = participle = base + base[-1] + "ed"
        elif base.endswith("e"):
            past = participle = base + "d"
        elif base.endswith("y") and base[-2] not in "aeiou":
            past = participle = base[:-1] + "ied"
        else:
            past = participle = base + "ed"
        if base.endswith(("s", "x", "z", "ch", "sh", "o")):
            third = base + "es"
        elif base.endswith("y") and base[-2] not in "aeiou":
            third = base[:-1] + "ies"
        else:
            third = base + "s"
        if base.endswith("ie"):
            ing = base[:-2] + "ying"
        elif base.endswith("e") and not base.endswith("ee") and base != "be":
            ing = base[:-1] + "ing"
        elif base in _DOUBLE_FINAL:
            ing = base + base[-1] + "ing"
        else:
            ing = base + "ing"
        for form in (base, third, ing, past, participle):
            past_of.setdefault(form, past)
            base_of.setdefault(form, base)
        base_forms.update((base, third))
        done_forms.update((past, participle))
        participles.add(participle)
    return _Verbs(
        past_of,
        base_of,
        frozenset(base_forms - _AUX),
        frozenset(done_forms - _AUX),
        frozenset(participles - _AUX),
    )


_VERBS = _verb_tables()
_PAST_OF = _VERBS.past_of


# --- sentences and tokens ------------------------------------------------------------------

_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+|\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*•#>]|\d+[.)])\s)")
_TOKEN = re.compile(
    r"(?:[A-Za-z]\.){2,}"  # U.S., e.g., D.C.
    r"|(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|Ft|Gen|Col|Lt|Sgt|Capt|Rev|Hon|Gov|Sen|Rep|Inc|Ltd|Co"
    r"|Corp|Bros|No|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.(?!\w)"
    r"|[A-Z]\.(?=\s+[A-Z])"  # an initial: J. K. Rowling
    r"|['’]s(?!\w)"  # possessive
    r"|\d+(?:[.,:]\d+)*(?:st|nd|rd|th|s)?"
    r"|[^\W\d_]\w*(?:['’](?!s(?!\w))[^\W\d_]\w*)*(?:\+\+?(?![\w+]))?"
    r"|\S"
)
_LOWER_WORD = re.compile(r"(?<![\w'’-])[a-z]+(?![\w'’-])")
_MID_CAP_WORD = re.compile(r"(?<=[\w,] )[A-Z][a-z]+(?![\w'’-])")
_WORD_AFTER = re.compile(r"[\"'“‘(\[]*([^\W_][\w.]*)")


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if match.group().startswith((".", "!", "?", "…")) and not _is_boundary(text, match):
            continue
        if text[start:end].strip():
            spans.append(_strip_span(text, start, end))
        start = end
    if text[start:].strip():
        spans.append(_strip_span(text, start, len(text)))
    return spans


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    following = _WORD_AFTER.match(text, match.end())
    if following is None:
        return True
    next_word = following.group(1)
    if not (next_word[0].isupper() or next_word[0].isdigit()):
        return False
    if match.group()[0] != "." or match.group().startswith(".."):
        return True
    before = text.rfind(" ", 0, match.start()) + 1
    word = text[before : match.start()].lstrip("\"'“‘([")
    low = word.casefold()
    starter = next_word.rstrip(".") in _STARTERS
    if low in _NEVER_SPLIT:
        return False
    if len(word) == 1 and word.isupper():
        return starter
    if low in _ABBREVIATIONS or "." in word:
        return starter
    return True


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, whitespace collapsed; "Mr.", "U.S." or "e.g." end none."""
    return [" ".join(text[a:b].split()) for a, b in _sentence_spans(text)]


@dataclass
class _Sentence:
    text: str  # the whole document
    start: int
    end: int
    toks: list[str]
    starts: list[int]
    ends: list[int]
    lows: list[str]

    def glued(self, i: int) -> bool:
        """Token i touches token i-1 (no space between)."""
        return i > 0 and self.starts[i] == self.ends[i - 1]

    def span(self, i: int, j: int) -> str:
        return self.text[self.starts[i] : self.ends[j - 1]]

    def description(self) -> str:
        text = " ".join(self.text[self.start : self.end].split())
        return text if len(text) <= DESCRIPTION_CHARS else text[: DESCRIPTION_CHARS - 1] + "…"


def _tokenize(text: str, start: int, end: int) -> _Sentence:
    matches = list(_TOKEN.finditer(text, start, end))
    toks = [m.group() for m in matches]
    starts = [m.start() for m in matches]
    ends = [m.end() for m in matches]
    return _Sentence(text, start, end, toks, starts, ends, [t.casefold() for t in toks])


# --- entities ------------------------------------------------------------------------------


@dataclass(eq=False)
class _Mention:
    start: int  # token indexes in the sentence, end exclusive
    end: int
    name: str
    type: str
    score: int  # how sure the type is: 0 default .. 3 gazetteer, suffix or honorific
    prep: str | None = None  # the preposition it is the object of, if any
    modifier: bool = False  # "London" in "London-based": describes the next name
    nested: bool = False  # "Tanzania" in "Gombe Stream National Park, Tanzania"
    key: str = ""


_Triple = tuple[_Mention, str, _Mention]


@dataclass
class _Document:
    mid_caps: set[str] = field(default_factory=set)  # words written capitalised mid-sentence
    lowers: set[str] = field(default_factory=set)  # words written in lower case
    last_person: _Mention | None = None  # of the last two sentences, for "he" and "she"
    last_org: _Mention | None = None  # for "it" and "the company"
    person_age: int = 0  # sentences since last_person was named
    org_age: int = 0
    carried: list[_Mention] = field(default_factory=list)  # resolved in this sentence


def _is_cap(tok: str) -> bool:
    c = tok[0]
    if c.isupper():
        return tok not in ("I", "A") or len(tok) > 1
    # iPhone, eBay: a lower-case letter then capitals
    return c.islower() and len(tok) > 2 and tok[1].isupper() and tok.isalnum()


def _is_acronym(tok: str) -> bool:
    letters = tok.replace(".", "").replace("&", "")
    return len(letters) >= 2 and letters.isupper() and letters.isalpha()


def _common(low: str, doc: _Document) -> bool:
    """A lower-case word of the language rather than a name, seen at a sentence start."""
    if low in _LOCATIONS or low in _ORGANIZATIONS or low in _GIVEN_NAMES:
        return False
    if low in _COMMON or low in _FUNCTION or low in _PAST_OF or low in doc.lowers:
        return True
    if low.endswith("s") and (low[:-1] in _COMMON or low[:-2] in _COMMON):
        return True
    return len(low) > 4 and low.endswith(_WORD_ENDINGS)


def _is_year(s: _Sentence, i: int) -> bool:
    tok = s.toks[i]
    if len(tok) != 4 or not tok.isdigit() or not 1000 <= int(tok) <= 2099:
        return False
    prev = s.lows[i - 1] if i > 0 else ""
    nxt = s.lows[i + 1] if i + 1 < len(s.toks) else ""
    if prev in ("$", "€", "£", "¥", "#", "no.", "number", "page", "flight", "model", "version"):
        return False
    if nxt in ("%", "percent") or nxt in _UNITS:
        return False
    if prev in _DATE_PREPS or prev == "," or prev in _MONTHS:
        return True
    following = s.toks[i + 1] if i + 1 < len(s.toks) else ""
    return not (following.islower() and nxt.endswith("s") and nxt not in _FUNCTION)


def _day(tok: str) -> bool:
    digits = tok[:-2] if tok[-2:] in ("st", "nd", "rd", "th") else tok
    return digits.isdigit() and 1 <= int(digits) <= 31 and len(digits) <= 2


def _date_end(s: _Sentence, i: int) -> int:
    """End of a date starting at token i, or i when none starts there."""
    toks, lows, n = s.toks, s.lows, len(s.toks)
    tok = toks[i]
    low = lows[i].rstrip(".")
    if low in _MONTHS and tok[0].isupper():
        j = i + 1
        if j < n and _day(toks[j]):
            j += 1
            if j + 1 < n and toks[j] == "," and _is_year(s, j + 1):
                j += 2
            elif j < n and _is_year(s, j):
                j += 1
        elif j < n and _is_year(s, j):
            j += 1
        if j > i + 1:
            return j
        prev = lows[i - 1] if i > 0 else ""
        return i + 1 if prev in _DATE_PREPS and prev not in ("and", "or", "of") else i
    if tok[0].isdigit():
        if _day(tok) and i + 1 < n and lows[i + 1].rstrip(".") in _MONTHS:
            j = i + 2
            return j + 1 if j < n and _is_year(s, j) else j
        if _is_year(s, i):
            j = i + 1
            if j + 3 < n and toks[j] == "-" and s.glued(j) and _day(toks[j + 1]):
                return j + 4 if toks[j + 2] == "-" and _day(toks[j + 3]) else j + 2
            return j + 1 if j < n and toks[j] in _ERAS else j
        if tok.isdigit() and len(tok) <= 3 and i + 1 < n and toks[i + 1] in _ERAS:
            return i + 2
        if len(tok) == 5 and tok.endswith("0s") and tok[:4].isdigit():
            return i + 1
        if tok[-2:] in ("st", "nd", "rd", "th") and i + 1 < n:
            return i + 2 if lows[i + 1] in ("century", "centuries", "millennium") else i
        return i
    if low in _ORDINALS and i + 1 < n and lows[i + 1] in ("century", "millennium"):
        return i + 2
    return i


def _name_end(s: _Sentence, i: int) -> int:
    """End of the capitalised name starting at token i (connectors, hyphens, numerals)."""
    toks, lows, n = s.toks, s.lows, len(s.toks)
    j = i + 1
    while j < n:
        tok = toks[j]
        if tok in ("-", "–") and s.glued(j) and j + 1 < n and s.glued(j + 1):
            if _is_cap(toks[j + 1]) or toks[j + 1].isdigit():
                j += 2
                continue
            break
        if lows[j] in _MONTHS and _date_end(s, j) > j:
            break
        if _is_cap(tok) and lows[j] not in _DAYS:
            if tok == "I" and j + 1 < n and lows[j + 1].isalpha() and not _is_cap(toks[j + 1]):
                break  # "... that Smith I met": the pronoun
            j += 1
            continue
        if tok.isdigit() and len(tok) <= 3 and not (j + 1 < n and toks[j + 1] in "%–-:/.,"):
            j += 1  # Apollo 11, Windows 95
            continue
        if tok in ("'s", "’s") and j + 1 < n and _is_cap(toks[j + 1]) and j == i + 1:
            low = lows[i]
            if low in _COMMON and low not in _LOCATIONS and low not in _ORGANIZATIONS:
                j += 2  # "World's Fair", "People's Republic"
                continue
        if tok == "," and j + 1 < n and toks[j + 1] == "D.C.":
            j += 2  # Washington, D.C.
            continue
        low = lows[j]
        nxt = j + 1
        if low == "of" and nxt < n and lows[nxt] == "the":
            nxt += 1
        if nxt < n and _is_cap(toks[nxt]) and lows[nxt] not in _MONTHS:
            if low in _CONNECTORS or tok == "&":
                if low == "of" and lows[j - 1].rstrip(".") in _TITLES:
                    break  # "Chancellor of Germany": a title, then a name
                j = nxt
                continue
            if low in ("and", "for") and _joins(s, i, j, nxt):
                j = nxt
                continue
        break
    return j


def _joins(s: _Sentence, i: int, j: int, k: int) -> bool:
    """Whether "and"/"for" at j belongs to one organisation's name ("Food and Drug
    Administration", "Centers for Disease Control")."""
    left = {w.rstrip(".") for w in s.lows[i:j]}
    if s.lows[j] == "for":
        return bool(left & _ORG_HEADS)
    end = k
    while end < len(s.toks) and _is_cap(s.toks[end]):
        end += 1
    last = s.lows[end - 1]
    left_name = " ".join(s.lows[i:j])
    return (
        last in _ORG_SUFFIX
        and not left & _ORG_SUFFIX
        and left_name not in _ORGANIZATIONS
        and left_name not in _LOCATIONS
    )


def _quoted_titles(s: _Sentence) -> list[_Mention]:
    """ "I Have a Dream": a short quotation in title case is the name of a work."""
    found: list[_Mention] = []
    toks, n = s.toks, len(s.toks)
    i = 0
    while i < n:
        if toks[i] in ('"', "“") and i + 1 < n:
            j = i + 1
            while j < n and j - i <= 10 and toks[j] not in ('"', "”"):
                j += 1
            words = [t for t in toks[i + 1 : j] if t[0].isalpha()]
            if (
                j < n
                and toks[j] in ('"', "”")
                and len(words) >= 2
                and toks[i + 1][0].isupper()
                and all(w[0].isupper() or w in _PREPS or w in _DETS or w in _CONJ for w in words)
            ):
                found.append(_Mention(i + 1, j, s.span(i + 1, j), CONCEPT, 3))
                i = j
        i += 1
    return found


def _find_mentions(s: _Sentence, doc: _Document) -> tuple[list[_Mention], list[_Triple]]:
    """The sentence's names and dates in order, and (person, role, organisation) triples
    found inside names ("Intel CEO Pat Gelsinger")."""
    toks, lows, n = s.toks, s.lows, len(s.toks)
    mentions = _quoted_titles(s)
    taken = {k for m in mentions for k in range(m.start - 1, m.end + 1)}
    roles: list[_Triple] = []
    heading = _is_heading(toks)
    initial = 0
    while initial < n and not toks[initial][0].isalnum():
        initial += 1
    done = 0
    candidates = [
        i
        for i, t in enumerate(toks)
        if not t[0].islower() or t in _ORDINALS or (len(t) > 2 and t[1].isupper())
    ]
    for i in candidates:
        tok = toks[i]
        if i < done or i in taken or not tok[0].isalnum():
            continue
        if tok[0].isdigit() or lows[i] in _MONTHS or lows[i] in _ORDINALS:
            end = _date_end(s, i)
            if end > i:
                mentions.append(_Mention(i, end, s.span(i, end), DATE, 3))
                done = end
                continue
        if not _is_cap(tok):
            continue
        end = _name_end(s, i)
        if heading:
            # Title Case: every word is capitalised, so each one is judged on its own.
            k = i
            for t in range(i, end + 1):
                low = lows[t] if t < end else ""
                if t == end or not _name_evidence(toks[t], low, doc):
                    if t > k:
                        mentions.extend(_name_mentions(s, doc, k, t, False, roles))
                    k = t + 1
        else:
            # after a table bar, a bullet, a quote or a colon a word is capitalised anyway
            before = toks[i - 1] if i > 0 else ""
            first = i == initial or (not before[:1].isalnum() and before not in _IN_NAME)
            mentions.extend(_name_mentions(s, doc, i, end, first, roles))
        done = end
    mentions.sort(key=lambda m: m.start)
    for a, b in itertools.pairwise(mentions):
        # "in Kerala and Karnataka": list items are alike
        if a.end < b.start and all(w in (",", "and", "or") for w in lows[a.end : b.start]):
            if b.score == 0 and a.score >= 2:
                b.type, b.score = a.type, 1
            elif a.score == 0 and b.score >= 2:
                a.type, a.score = b.type, 1
    return mentions, roles


def _name_evidence(tok: str, low: str, doc: _Document) -> bool:
    """Whether a word of a heading, where every word is capitalised, is (part of) a name."""
    if low in _FUNCTION or (low in _COMMON and low not in _LOCATIONS_AND_ORGANIZATIONS):
        return False
    return (
        low in doc.mid_caps
        or low in _LOCATIONS_AND_ORGANIZATIONS
        or low in _GIVEN_NAMES
        or _is_acronym(tok)
        or any(c.isupper() for c in tok[1:])
        or not tok.isalpha()
    )


def _is_heading(toks: list[str]) -> bool:
    """A title or a Markdown heading: no full stop, (nearly) every word capitalised."""
    if toks[0] == "#":
        return True
    if toks[-1] in (".", "!", "?", '"', "”", ";", ","):
        return False
    content = [w for w in toks if w[0].isalpha() and w.casefold() not in _FUNCTION]
    return len(content) >= 2 and sum(_is_cap(w) for w in content) >= 0.75 * len(content)


def _name_mentions(
    s: _Sentence, doc: _Document, i: int, j: int, first: bool, roles: list[_Triple]
) -> list[_Mention]:
    toks, lows = s.toks, s.lows
    # A sentence's first word is capitalised anyway: drop it when it is a common word.
    while i < j and (first or lows[i] in _FUNCTION):
        low = lows[i]
        first = False
        if i + 1 < j and toks[i + 1] in ("-", "–") and (low in _FUNCTION or _common(low, doc)):
            return []  # "Content-Type", "Last-Event-ID": a compound of words
        if low in _FUNCTION:
            i += 1
        elif low in _ORG_HEADS or low in _LOC_HEADS or low in _CONCEPT_HEADS:
            break
        elif _common(low, doc) and low not in doc.mid_caps:
            nxt = toks[i + 1] if i + 1 < j else ""
            if nxt and _is_cap(nxt) and not _is_acronym(nxt) and low not in _PAST_OF:
                break  # "General Motors", "New Zealand"; but not "Base URL"
            i += 1
            if i < j and (lows[i] in _CONNECTORS or toks[i] == "&"):
                i += 1  # "Shares of Tesla"
            elif i == j:
                return []
    while i < j and not toks[i][0].isalnum():
        i += 1
    end = _date_end(s, i) if i < j else i
    if end > i:
        return [_Mention(i, end, s.span(i, end), DATE, 3)]
    while j > i and (toks[j - 1] in ("-", "–", ",") or lows[j - 1] in _CONNECTORS):
        j -= 1
    if i >= j:
        return []
    whole = " ".join(lows[i:j]) if j - i > 1 else lows[i]
    last = lows[j - 1].rstrip(".")
    known = _LOCATIONS_AND_ORGANIZATIONS.get(whole)
    suffix = _suffix_type(lows, i, j) if j - i > 1 else None
    person = False
    if known is None and suffix is None:
        k = i
        while k < j and (lows[k].rstrip(".") in _TITLES or toks[k] in ("-", "–")):
            k += 1
        if k > i and k < j:
            person = True
            i = k
        elif k == j:
            return []  # a bare title: "President", "Secretary-General"
        else:
            for t in range(i + 1, j - 1):
                if lows[t].rstrip(".") in _TITLES and _is_cap(toks[t + 1]):
                    left = _name_mentions(s, doc, i, t, False, roles)
                    u = t
                    while u < j and lows[u].rstrip(".") in _TITLES:
                        u += 1
                    right = _name_mentions(s, doc, u, j, False, roles)
                    if left and right:
                        label = "_".join(w.rstrip(".") for w in lows[t:u]) + "_of"
                        roles.append((right[-1], label, left[-1]))
                    return left + right
    if j - i == 1:
        tok, low = toks[i], lows[i]
        if low in _DAYS or tok in _NON_ENTITY_ACRONYMS or tok == "I":
            return []
        if len(tok) > 3 and tok.isupper() and _common(low, doc):
            return []  # "WARNING", "COMPLETED": a word in capitals
        if j < len(toks) and _demonym(low) and lows[j].isalpha() and lows[j] not in _FUNCTION:
            return []  # "Swedish music", "a Ghanaian diplomat"
    name = s.span(i, j)
    if name.endswith(".") and not (last in _ABBREVIATIONS or "." in name[:-1]):
        name = name[:-1]
    if person:
        type_, score = PERSON, 3
    elif known or suffix:
        type_, score = known or suffix or CONCEPT, 3
    else:
        type_, score = _type_of(s, i, j)
    mention = _Mention(i, j, name, type_, score)
    if j + 1 < len(toks) and toks[j] in ("-", "–") and s.glued(j) and s.glued(j + 1):
        mention.modifier = lows[j + 1] in ("based", "born", "headquartered", "owned", "made")
    return [mention]


def _demonym(low: str) -> bool:
    if low in _DEMONYMS:
        return True
    return low.endswith(_DEMONYM_ENDINGS) and low not in _GIVEN_NAMES and len(low) > 4


def _suffix_type(lows: list[str], i: int, j: int) -> str | None:
    """The type a multi-word name's head word gives: "X River", "University of X"."""
    last = lows[j - 1].rstrip(".")
    first = lows[i].rstrip(".")
    if last in _LOC_SUFFIX:
        return LOCATION
    if last in _ORG_SUFFIX or any(w in _ORG_HEADS for w in lows[i:j]):
        return ORGANIZATION
    if last in _CONCEPT_SUFFIX or first in _CONCEPT_HEADS:
        return CONCEPT
    if first in _LOC_HEADS:
        return LOCATION
    return None


def _type_of(s: _Sentence, i: int, j: int) -> tuple[str, int]:
    """The type of a name that no gazetteer or suffix decides, and how sure it is."""
    toks, lows = s.toks, s.lows
    if j - i == 1 and _is_acronym(toks[i]):
        if toks[i].replace(".", "") in _CONCEPT_ACRONYMS:
            return CONCEPT, 2
        return ORGANIZATION, 2
    cue = _context_type(s, i, j)
    if cue:
        return cue, 2
    first = lows[i]
    if first in _GIVEN_NAMES and (j - i > 1 or first not in _COMMON):
        return PERSON, 2 if j - i > 1 else 1
    if lows[j - 1] in _LOCATIONS and all(w in _DIRECTIONS or _demonym(w) for w in lows[i : j - 1]):
        return LOCATION, 2  # "Swiss Alps", "Southern California"
    if j - i == 1:
        tok = toks[i]
        if any(c.isupper() for c in tok[1:]) and any(c.islower() for c in tok):
            return ORGANIZATION, 1  # DeepMind, OpenAI
        return CONCEPT, 0
    if (
        j - i <= 3
        and all(t.isalpha() and t[0].isupper() and not t.isupper() for t in toks[i:j])
        and not any(w in _COMMON or w.endswith(_NOT_NAME_ENDINGS) for w in lows[i:j])
        and not _demonym(first)
    ):
        return PERSON, 1  # two or three capitalised words that are not words: likely a name
    return CONCEPT, 0


def _context_type(s: _Sentence, i: int, j: int) -> str | None:
    """Type from the words around a name: "in X", "the startup X", "X, a physicist", "X, who"."""
    lows, n = s.lows, len(s.toks)
    k = i - 1
    if k >= 0:
        before = lows[k]
        if before in _ORG_NOUNS:
            return ORGANIZATION
        if before in _PERSON_NOUNS:
            return PERSON
        if before in _LOC_NOUNS:
            return LOCATION
        if before == "the":
            k -= 1
        if k >= 0 and lows[k] in ("in", "near", "across", "throughout", "outside", "into"):
            return LOCATION
    if j + 1 < n and lows[j] == ",":
        if lows[j + 1] == "who":
            return PERSON
        if lows[j + 1] in ("a", "an", "the"):
            k = j + 2
            while k < n and k < j + 8 and lows[k] not in (",", ".") and lows[k] not in _PREPS:
                k += 1
            head = lows[k - 1]
            if head in _PERSON_NOUNS:
                return PERSON
            if head in _ORG_NOUNS:
                return ORGANIZATION
            if head in _LOC_NOUNS:
                return LOCATION
    return None


# --- relations -----------------------------------------------------------------------------
# Each token gets a class: M mention, V verb, A auxiliary, P preposition, T "to" before a verb,
# D determiner, R adverb, C and/or/but, S subordinator, W relative pronoun, O pronoun,
# X possessive 's, "," comma, ";" other clause punctuation, N anything else.


def _classify(s: _Sentence, at: list[_Mention | None]) -> list[str]:
    toks, lows, n = s.toks, s.lows, len(s.toks)
    cls = ["N"] * n
    prev, prev_low = "^", ""
    after_det = False  # the last word that was not an adverb was a determiner
    for k in range(n):
        m = at[k]
        if m is not None:
            cls[k] = "M"
            if m.modifier and k == m.end - 1 and k + 2 < n:
                cls[k + 1] = cls[k + 2] = "D"  # "-based" describes, it is not a verb
            prev, prev_low, after_det = "M", "", False
            continue
        if cls[k] == "D" and k > 0 and cls[k - 1] in "MD" and toks[k - 1] in ("-", "–"):
            prev, prev_low = "D", lows[k]
            continue
        c = _STATIC_CLASS.get(lows[k]) or _word_class(
            toks[k], lows[k], prev, prev_low, lows[k + 1] if k + 1 < n else ""
        )
        if after_det and c == "V":
            c = "N"  # "the first powered flight"
        after_det = c == "D" or (after_det and (c == "R" or lows[k] in _ORDINALS))
        cls[k] = c
        prev, prev_low = c, lows[k]
    for k in range(n - 1):
        # "Apple shares fell": a verb-looking word before a verb is a noun.
        if cls[k] == "V" and lows[k] in _VERBS.base_forms and cls[k + 1] in "VA":
            cls[k] = "N"
    return cls


def _word_class(tok: str, low: str, prev: str, prev_low: str, next_low: str) -> str:
    if not tok[0].isalnum():
        if tok == ",":
            return ","
        if tok in ("'s", "’s"):
            return "X"
        return ";" if tok in ';:()[]—"“”' else "N"
    if low in _AUX:
        return "A"
    if low == "to":
        return "T" if next_low in _VERBS.base_forms else "P"
    if low in _RELATIVE:
        return "W"
    if low in _SUBORD:
        return "S"
    if low in _CONJ:
        return "C"
    if low in _PRONOUNS:
        return "O"
    if low in _PREPS:
        return "P"
    if low in _DETS:
        return "D"
    if low in _ADVERBS or (low.endswith("ly") and len(low) > 3 and low not in _NOT_ADVERB_LY):
        return "R"
    if prev == "D" or not tok.isalpha():
        return "N"
    if low in _VERBS.done_forms or (
        low.endswith("ed") and len(low) > 3 and low not in _NOT_VERB_ED
    ):
        return "V"
    if low.endswith("ing") and len(low) > 4 and low not in _NOT_VERB_ING:
        # "..., disrupting", "is developing", "after meeting"; but "the building"
        return "V" if prev in "AS,MCRO^" or prev_low in _CLAUSE_PREPS else "N"
    if low in _VERBS.base_forms and (prev in "ORATWC" or (prev in "M," and low.endswith("s"))):
        return "V"  # "will build", "to study", "the Rhine flows"; but "the SQLite file"
    return "N"


# Classes that do not depend on the neighbours ("to" does: "to Paris", "to study").
_STATIC_CLASS = {
    **dict.fromkeys(_DETS, "D"),
    **dict.fromkeys(_ADVERBS, "R"),
    **dict.fromkeys(_PREPS - {"to"}, "P"),
    **dict.fromkeys(_PRONOUNS, "O"),
    **dict.fromkeys(_CONJ, "C"),
    **dict.fromkeys(_SUBORD, "S"),
    **dict.fromkeys(_RELATIVE, "W"),
    **dict.fromkeys(_AUX, "A"),
    ",": ",",
}


@dataclass
class _Phrase:
    start: int
    end: int
    label: str  # "is_born", "moved", "will_build", "is"
    verb: str  # the main verb as written, "" for a bare copula
    passive: bool
    say: bool  # a reporting verb: what follows is a clause, not an object


def _phrase(s: _Sentence, cls: list[str], i: int) -> _Phrase:
    lows, n = s.lows, len(s.toks)
    k = i
    while k < n:
        c = cls[k]
        nxt = cls[k + 1] if k + 1 < n else ""
        if c in "AV" or (c == "R" and nxt in "AVRT" and nxt) or (c == "T" and nxt == "V"):
            k += 1
            continue
        if c == "R" and k > i and lows[k] in ("not", "never"):
            k += 1
            continue
        break
    words = lows[i:k]
    kinds = cls[i:k]
    verbs = [w for w, c in zip(words, kinds, strict=True) if c == "V"]
    aux = [w for w, c in zip(words, kinds, strict=True) if c == "A"]
    negated = "not" in words or "never" in words
    if not verbs:
        head = "is" if any(a in _BE for a in aux) else (aux[-1] if aux else "is")
        return _Phrase(i, k, head + ("_not" if negated else ""), "", False, False)
    main = verbs[0]
    modal = next((a for a in aux if a in _MODALS), None)
    has_be = any(a in _BE for a in aux)
    by_follows = k < n and lows[k] == "by"
    passive = main in _VERBS.participles or (main.endswith("ed") and main not in _PAST_OF)
    passive = passive and (has_be or by_follows)
    if passive:
        head = "is_" + main
    elif modal:
        head = modal + "_" + main
    else:
        head = _PAST_OF.get(main, main)
    for extra in verbs[1:]:
        head += "_to_" + extra
    if negated:
        head = "is_not_" + head[3:] if head.startswith("is_") else "not_" + head
    base = _VERBS.base_of.get(main, main)
    return _Phrase(i, k, head, main, passive, base in _SAY or main in _SAY)


def _snake(words: list[str]) -> str:
    return re.sub(r"[^a-z]+", "_", "_".join(w for w in words if w[:1].isalpha())).strip("_")


def _between(lows: list[str], cls: list[str], a: int, b: int) -> list[str]:
    """Content words from a to b for a label: no determiners, adverbs or "one of"."""
    out: list[str] = []
    for k in range(a, b):
        if cls[k] in "NP" and not (cls[k] == "P" and k > a and lows[k - 1] in _QUANTIFIERS):
            out.append(lows[k])
    return out


def _coordinated(s: _Sentence, cls: list[str], a: _Mention, b: _Mention) -> bool:
    """Items of one list: "A and B", "A, B", "A, and B" (a comma alone only joins alikes)."""
    gap = range(a.end, b.start)
    if not gap or not all(cls[k] == "," or s.lows[k] in ("and", "or") for k in gap):
        return False
    return a.type == b.type or any(s.lows[k] in ("and", "or") for k in gap)


def _arguments(
    s: _Sentence,
    cls: list[str],
    at: list[_Mention | None],
    phrase: _Phrase,
    stop: int,
) -> list[tuple[_Mention, str | None, list[str], bool]]:
    """The names after a verb phrase, up to the end of its clause: each with its preposition,
    the words before it (for the first) and whether it continues a list."""
    lows = s.lows
    found: list[tuple[_Mention, str | None, list[str], bool]] = []
    k = gap_start = phrase.end
    prep: str | None = None
    prev: _Mention | None = None
    while k < stop:
        m = at[k]
        if m is not None:
            if m.modifier or m.nested:
                k = m.end
                continue
            after = cls[m.end] if m.end < stop else ""
            if prep in _CLAUSE_PREPS and after in "VA" and after:
                break  # "... after Peter Higgs predicted it": another clause's subject
            coordinated = prev is not None and _coordinated(s, cls, prev, m)
            found.append((m, prep, _between(lows, cls, gap_start, m.start), coordinated))
            prev, prep = m, None
            k = gap_start = m.end
            continue
        c = cls[k]
        nxt = cls[k + 1] if k + 1 < stop else ""
        if c in "AVSW;" or (c == "T" and nxt == "V"):
            break
        if c == "C" and (nxt in "AV" or (nxt == "R" and k + 2 < stop and cls[k + 2] in "AV")):
            break
        if c == "," and nxt in "SWVAOT,;":
            break
        if c == "P" and not (k > 0 and lows[k - 1] in _QUANTIFIERS | {"such"}):
            prep = lows[k]
        k += 1
    return found


def _verb_relations(
    phrase: _Phrase,
    subjects: list[_Mention],
    arguments: list[tuple[_Mention, str | None, list[str], bool]],
    out: list[_Triple],
) -> None:
    base = _VERBS.base_of.get(phrase.verb, phrase.verb)
    obj: _Mention | None = None
    rule = ("subject", phrase.label)
    for index, (m, prep, words, coordinated) in enumerate(arguments):
        if not coordinated or index == 0:
            kind, label = "subject", _snake([phrase.label, prep or ""])
            if index == 0 and words and words[-1] in _PREPS and prep and len(words) <= 5:
                label = _snake([phrase.label, *words])  # "is_capital_of", "filed_for_..._in"
            elif prep is None and obj is None:
                label, obj = phrase.label, m
            if phrase.passive and prep == "by":
                kind, label = "agent", _PAST_OF.get(phrase.verb, phrase.verb)
            elif obj not in (None, m) and base in _OBJECT_ATTACH and m.type in (DATE, LOCATION):
                kind = "object"  # "X founded Y in 1998": Y was founded in 1998
            rule = (kind, label)
        kind, label = rule
        if kind == "object" and obj is not None:
            out.append((obj, label, m))
            continue
        for subject in subjects:
            out.append((m, label, subject) if kind == "agent" else (subject, label, m))
    if base in _RECIPROCAL and obj is None and len(subjects) > 1:
        out.extend((subjects[0], phrase.label, other) for other in subjects[1:])


def _governing_prep(cls: list[str], lows: list[str], start: int) -> str | None:
    k = start - 1
    while k >= 0 and start - k <= 5 and cls[k] in "DN":
        k -= 1
    return lows[k] if k >= 0 and cls[k] == "P" else None


def _subjects(
    s: _Sentence,
    cls: list[str],
    at: list[_Mention | None],
    mentions: list[_Mention],
    start: int,
    previous: list[_Mention],
    fronted: int,
    doc: _Document,
) -> list[_Mention]:
    """Who does what the verb phrase at `start` says."""
    lows = s.lows
    k = start - 1
    while k >= 0 and cls[k] == "R":
        k -= 1
    if cls[start] == "T" or (k >= 0 and cls[k] == "P" and lows[k] in _CLAUSE_PREPS):
        # "moved to Paris to study ...", "... before emptying into ...": the same doer
        if fronted > start:
            return _main_subject(s, cls, mentions, fronted)
        return previous
    k = start - 1
    nouns = 0
    while k >= 0 and start - k <= 40:
        m = at[k]
        if m is not None:
            return _with_coordinated(s, cls, mentions, m)
        c = cls[k]
        if c in "NDPRX" and not (c == "N" and not s.toks[k][0].isalnum()):
            if c == "N":
                nouns += 1
                if nouns == 1 and lows[k] in _ORG_NOUNS and k > 0 and lows[k - 1] in _THE:
                    return _resolve(doc, mentions, start, ORGANIZATION)  # "the company said"
            k -= 1
            continue
        break
    boundary = cls[k] if k >= 0 else "^"
    if boundary == "O" and lows[k] in ("he", "she", "it"):
        if fronted > start:
            return _main_subject(s, cls, mentions, fronted)
        return _resolve(doc, mentions, start, ORGANIZATION if lows[k] == "it" else PERSON)
    if boundary == "W" and lows[k] in ("who", "which", "that"):
        j = k - 1
        while j >= 0 and cls[j] == ",":
            j -= 1
        antecedent = at[j] if j >= 0 else None
        return [antecedent] if antecedent is not None else []
    if nouns:
        return []  # a subject without a name: "some geographers argue"
    if fronted > start:
        return _main_subject(s, cls, mentions, fronted)
    if boundary in "C,S" and previous:
        return previous
    # "Kofi Annan, a Ghanaian diplomat, served ...": the sentence's subject, an apposition
    # between it and the verb
    first = mentions[0] if mentions and mentions[0].end < start else None
    if (
        first is None
        or first.prep is not None
        or first.type == DATE
        or cls[first.end] != ","
        or any(c in "AV" for c in cls[: first.start])
    ):
        return []
    return [first]


def _resolve(doc: _Document, mentions: list[_Mention], start: int, type_: str) -> list[_Mention]:
    """What "he", "she", "it" or "the company" stands for: the last person or organisation
    named in this sentence or the previous one."""
    found = _recent(mentions, start, type_)
    if found is None:
        found = doc.last_person if type_ == PERSON else doc.last_org
        if found is not None:
            doc.carried.append(found)
    return [found] if found is not None else []


def _with_coordinated(
    s: _Sentence, cls: list[str], mentions: list[_Mention], m: _Mention
) -> list[_Mention]:
    group = [m]
    index = mentions.index(m)
    while index > 0 and _coordinated(s, cls, mentions[index - 1], group[0]):
        index -= 1
        group.insert(0, mentions[index])
    return [g for g in group if not g.nested]


def _recent(mentions: list[_Mention], before: int, type_: str) -> _Mention | None:
    found = [m for m in mentions if m.end <= before and m.type == type_]
    return found[-1] if found else None


def _main_subject(
    s: _Sentence, cls: list[str], mentions: list[_Mention], after: int
) -> list[_Mention]:
    """The subject after a fronted clause: "Born in Ulm, Albert Einstein ..."."""
    index = next((i for i, m in enumerate(mentions) if m.start > after), len(mentions))
    group: list[_Mention] = []
    for m in mentions[index:]:
        if group and not _coordinated(s, cls, group[-1], m):
            break
        if m.prep is not None or m.type == DATE:
            break
        group.append(m)
    return group


def _fronted_end(s: _Sentence, cls: list[str]) -> int:
    """Index of the comma closing a fronted clause ("Born in Ulm, ..."), or -1."""
    first = next((k for k, c in enumerate(cls) if c not in ";"), None)
    if first is None or cls[first] not in "SVP":
        return -1
    for k in range(first, len(cls)):
        if cls[k] == ",":
            return k
    return -1


def _pattern_relations(
    s: _Sentence, cls: list[str], mentions: list[_Mention], doc: _Document, out: list[_Triple]
) -> None:
    """Relations told without a verb: "London-based X", "Park, Tanzania", "X, a senior
    analyst at Y", "Finland's Nokia", "the firm's chief executive Pat Gelsinger"."""
    lows, n = s.lows, len(s.toks)
    for index, a in enumerate(mentions):
        after = mentions[index + 1] if index + 1 < len(mentions) else None
        if a.modifier and after is not None:
            if all(cls[k] in "ND" for k in range(a.end + 2, after.start)):
                verb = lows[a.end + 1]
                label = "is_owned_by" if verb == "owned" else f"is_{verb}_in"
                out.append((after, label, a))
            continue
        if after is None or a.type == DATE:
            continue
        gap = after.start - a.end
        if (
            gap == 1
            and lows[a.end] in (",", "in")
            and a.type in (LOCATION, ORGANIZATION)
            and after.type == LOCATION
            and not _in_list(s, cls, mentions, index)
        ):
            after.nested = True
            out.append((a, "is_located_in", after))
        elif gap == 1 and cls[a.end] == "X":
            if a.type == LOCATION:
                label = "is_based_in" if after.type == ORGANIZATION else "is_from"
                out.append((after, label, a))
            elif a.type == ORGANIZATION and after.type == PERSON:
                out.append((after, "works_for", a))
            else:
                out.append((a, "has", after))
        elif (
            lows[a.end] == ","
            and a.end + 1 < n
            and lows[a.end + 1] in ("a", "an", "the")
            and cls[after.start - 1] in "PD"
            and all(cls[k] in "NDPR" for k in range(a.end + 1, after.start))
        ):
            words = _between(lows, cls, a.end + 1, after.start)
            if words and words[-1] in _PREPS and 2 <= len(words) <= 4:
                out.append((a, _snake(words), after))
    for m in mentions:
        if m.type == PERSON:
            _role_relation(s, cls, mentions, m, doc, out)


def _in_list(s: _Sentence, cls: list[str], mentions: list[_Mention], index: int) -> bool:
    """Whether mentions[index] and mentions[index + 1] are items of a list ("A, B and C"),
    rather than a place and where it is ("Coyoacán, Mexico City")."""
    first = index
    while first > 0 and _coordinated(s, cls, mentions[first - 1], mentions[first]):
        first -= 1
    last = index + 1
    while last + 1 < len(mentions) and _coordinated(s, cls, mentions[last], mentions[last + 1]):
        last += 1
    joints = [
        s.lows[k] for i in range(first, last) for k in range(mentions[i].end, mentions[i + 1].start)
    ]
    return "and" in joints or "or" in joints


def _role_relation(
    s: _Sentence,
    cls: list[str],
    mentions: list[_Mention],
    person: _Mention,
    doc: _Document,
    out: list[_Triple],
) -> None:
    lows = s.lows
    k = person.start - 1
    while k >= 0 and cls[k] == "N" and lows[k] in _ROLE_WORDS:
        k -= 1
    if k == person.start - 1 or k < 0:
        return
    role = _snake([w for w in lows[k + 1 : person.start] if w not in ("senior", "former")])
    if cls[k] == "X":
        k -= 1
    owner = next((m for m in mentions if m.end == k + 1), None)
    if owner is None and k >= 1 and lows[k] in _ORG_NOUNS and lows[k - 1] in ("the", "its"):
        owner = _recent(mentions, k, ORGANIZATION) or doc.last_org
    if owner is not None and owner.type in (ORGANIZATION, LOCATION) and role:
        out.append((person, role + "_of", owner))


def _relations(s: _Sentence, mentions: list[_Mention], doc: _Document) -> list[_Triple]:
    n = len(s.toks)
    at: list[_Mention | None] = [None] * n
    for m in mentions:
        for k in range(m.start, m.end):
            at[k] = m
    cls = _classify(s, at)
    for m in mentions:
        m.prep = _governing_prep(cls, s.lows, m.start)
    out: list[_Triple] = []
    _pattern_relations(s, cls, mentions, doc, out)
    fronted = _fronted_end(s, cls)
    # "In 2014, Google acquired ...": a date or place opening the sentence belongs to its verb.
    adjuncts: list[tuple[_Mention, str | None, list[str], bool]] = []
    if fronted > 0 and not any(c in "AV" for c in cls[:fronted]):
        adjuncts = [
            (m, m.prep, [], False)
            for m in mentions
            if m.end <= fronted and m.type in (DATE, LOCATION) and m.prep in _ADJUNCT_PREPS
        ]
    previous: list[_Mention] = []
    done = 0
    starts = [i for i, c in enumerate(cls) if c in "AVT"]
    for i in starts:
        if i < done or (cls[i] == "T" and (i + 1 >= n or cls[i + 1] != "V")):
            continue
        phrase = _phrase(s, cls, i)
        subjects = _subjects(s, cls, at, mentions, i, previous, fronted, doc)
        if subjects:
            previous = subjects
            if not phrase.say:
                arguments = _arguments(s, cls, at, phrase, fronted if i < fronted else n)
                if i > fronted:
                    arguments, adjuncts = arguments + adjuncts, []
                _verb_relations(phrase, subjects, arguments, out)
        done = max(phrase.end, i + 1)
    return out


# --- the extraction ------------------------------------------------------------------------


def normalize_name(name: str) -> str:
    """The key two names of one entity share: case, accents, punctuation, a leading "the" and a
    possessive "'s" ignored ("The Lancet" = "lancet", "Christie's" = "Christie")."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode() or name
    text = re.sub(r"['’]s\b", "", text.casefold())
    text = " ".join(re.sub(r"[^\w\s]", " ", text).split())
    if text.startswith("the "):
        text = text[4:]
    return text or name.casefold().strip()


def extract(text: str, *, cooccurrence: bool = True) -> Extraction:
    """Entities and relations of `text` by rules: names, acronyms and dates, typed; relations
    labelled by the verb phrase joining them. With `cooccurrence`, two entities of one
    sentence that nothing else links get a "mentioned_with" relation."""
    doc = _Document()
    sentences = [_tokenize(text, a, b) for a, b in _sentence_spans(text)]
    doc.lowers.update(_LOWER_WORD.findall(text))
    doc.mid_caps.update(w.casefold() for w in _MID_CAP_WORD.findall(text))
    found: list[tuple[_Sentence, list[_Mention], list[_Triple]]] = []
    for s in sentences:
        mentions, roles = _find_mentions(s, doc)
        triples = _relations(s, mentions, doc) + roles
        if cooccurrence:
            triples += _cooccurring(mentions, triples)
        found.append((s, mentions, triples))
        # "he", "she", "it" and "the company" reach back two sentences, no further
        named = [*doc.carried, *mentions]
        person = _recent(named, len(s.toks), PERSON)
        org = _recent(named, len(s.toks), ORGANIZATION)
        doc.last_person = person or (doc.last_person if doc.person_age < 1 else None)
        doc.last_org = org or (doc.last_org if doc.org_age < 1 else None)
        doc.person_age = 0 if person else doc.person_age + 1
        doc.org_age = 0 if org else doc.org_age + 1
        doc.carried = []
    return _assemble(found)


def _cooccurring(mentions: list[_Mention], triples: list[_Triple]) -> list[_Triple]:
    """One "mentioned_with" link for each name that no relation of its sentence reaches: to the
    nearest other name of the sentence (dates only to names that are not dates)."""
    linked = {id(m) for a, _, b in triples for m in (a, b)}
    out: list[_Triple] = []
    for index, m in enumerate(mentions):
        if id(m) in linked or m.modifier:
            continue
        nearest = None
        for distance in range(1, len(mentions)):
            for other in (index - distance, index + distance):
                if 0 <= other < len(mentions):
                    o = mentions[other]
                    if o.name != m.name and not (m.type == DATE and o.type == DATE):
                        nearest = o
                        break
            if nearest is not None:
                break
        if nearest is not None:
            pair = (m, nearest) if m.start < nearest.start else (nearest, m)
            out.append((pair[0], MENTIONED_WITH, pair[1]))
    return out


def _assemble(found: list[tuple[_Sentence, list[_Mention], list[_Triple]]]) -> Extraction:
    all_mentions = [m for _, mentions, _ in found for m in mentions]
    keys: dict[str, str] = {}
    for m in all_mentions:
        key = keys.get(m.name)
        if key is None:
            key = keys[m.name] = normalize_name(m.name)
        m.key = key
    # "Curie" after "Marie Curie", "Toyota" after "Toyota Motor Corporation": one entity.
    by_last: dict[str, set[str]] = {}
    by_first: dict[str, set[str]] = {}
    types: dict[str, tuple[int, str]] = {}
    for m in all_mentions:
        words = m.key.split()
        if len(words) > 1 and m.type == PERSON:
            by_last.setdefault(words[-1], set()).add(m.key)
        elif len(words) > 1 and m.type == ORGANIZATION:
            by_first.setdefault(words[0], set()).add(m.key)
    for m in all_mentions:
        if " " not in m.key and m.score < 3:
            longer = by_last.get(m.key, set()) | by_first.get(m.key, set())
            if len(longer) == 1:
                m.key = next(iter(longer))
        best = types.get(m.key)
        if best is None or m.score > best[0]:
            types[m.key] = (m.score, m.type)
    entities: dict[str, Entity] = {}
    for s, mentions, _ in found:
        for m in mentions:
            known = entities.get(m.key)
            if known is None or (len(m.name) > len(known.name) and normalize_name(m.name) == m.key):
                description = known.description if known else s.description()
                entities[m.key] = Entity(m.name, types[m.key][1], description)
    relations: dict[tuple[str, str, str], Relation] = {}
    for s, _, triples in found:
        for a, label, b in triples:
            if a.key == b.key or not label:
                continue
            triple = (a.key, b.key, label)
            if triple not in relations:
                source, target = entities[a.key].name, entities[b.key].name
                relations[triple] = Relation(source, target, label, s.description())
    return Extraction(list(entities.values()), list(relations.values()))


# --- summaries -----------------------------------------------------------------------------

_SUMMARY_WORD = re.compile(r"[^\W\d_]{3,}")


def summarize(text: str, max_sentences: int = 3) -> str:
    """An extractive summary: the `max_sentences` sentences that best cover the text's frequent
    words (earlier, mid-length, prose sentences preferred; near-repeats skipped), in order."""
    sentences = split_sentences(text)
    if len(sentences) <= max_sentences:
        return " ".join(sentences)
    words = [
        [w for w in _SUMMARY_WORD.findall(sentence.casefold()) if w not in _FUNCTION]
        for sentence in sentences
    ]
    counts = Counter(w for ws in words for w in set(ws))
    ranked = []
    for index, (sentence, ws) in enumerate(zip(sentences, words, strict=True)):
        unique = set(ws)
        length = len(sentence.split())
        if len(unique) < 3:
            continue
        score = sum(counts[w] for w in unique) / len(unique) ** 0.7
        score *= 1.0 + 1.0 / (1 + index)  # the opening states the topic
        if not 6 <= length <= 45:
            score *= 0.5
        if any(c in sentence for c in "|`{}<>=_#") or sum(
            c.isalpha() or c.isspace() for c in sentence
        ) < 0.85 * len(sentence):
            score *= 0.3  # code, tables, lists of numbers
        ranked.append((-score, index, unique))
    chosen: list[tuple[int, set[str]]] = []
    for _, index, unique in sorted(ranked, key=lambda r: (r[0], r[1])):
        if all(len(unique & other) < 0.6 * min(len(unique), len(other)) for _, other in chosen):
            chosen.append((index, unique))
        if len(chosen) == max_sentences:
            break
    if not chosen:
        return " ".join(sentences[:max_sentences])
    return " ".join(sentences[index] for index, _ in sorted(chosen, key=lambda c: c[0]))
