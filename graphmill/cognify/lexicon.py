"""Word lists for the offline extractor: function words, verbs, titles, name parts,
and a small gazetteer of places and organisations."""

from __future__ import annotations

PERSON, ORGANIZATION, LOCATION, DATE, CONCEPT = (
    "Person",
    "Organization",
    "Location",
    "Date",
    "Concept",
)


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def phrase_set(text: str) -> frozenset[str]:
    return frozenset(p.strip() for p in text.split("|") if p.strip())


# --- word lists ----------------------------------------------------------------------------
# Function words, by the part they play in a verb phrase.
DETS = word_set("""a an the this that these those its his her their our my your some any each every
 all both either neither no another such several many much more most few fewer less least other
 own one two three four five six seven eight nine ten dozens hundreds thousands millions part""")
QUANTIFIERS = word_set("one some many most all much part each none both several few any half rest")
PRONOUNS = word_set("he she it they we i you him them us me itself himself herself themselves")
PREPS = word_set("""of in on at to for with by from into onto about against between among through
 throughout during under over after before since until till across near within without upon
 toward towards via behind beyond alongside amid despite per than around along off aboard inside
 outside beneath beside besides like unlike except as up down out away back""")
CONJ = word_set("and or but nor")
SUBORD = word_set("while although though because whereas unless if when whenever once whether")
RELATIVE = word_set("who whom whose which that where")
BE = word_set("is are was were be been being am")
HAVE = word_set("has have had having")
DO = word_set("do does did")
MODALS = word_set("will would can could shall should may might must")
AUX = BE | HAVE | DO | MODALS
ADVERBS = word_set("""not never also later then now still already often always sometimes usually
 soon again once twice together further first ago long just even almost nearly only yet""")
NOT_ADVERB_LY = word_set("""family italy july only early supply apply reply rely fly ally rally
 assembly monopoly anomaly butterfly lily holy ugly belly jelly""")
FUNCTION = DETS | PRONOUNS | PREPS | CONJ | SUBORD | RELATIVE | AUX | ADVERBS
FUNCTION |= word_set("""there here what why how however meanwhile moreover furthermore today
 yesterday tomorrow last next former late then thus hence instead according following despite
 eventually indeed perhaps also so not nor yet please whichever whoever whatever wherever""")

# Verbs: a base form, or "base:past:participle" for irregular ones. Regular forms are derived.
VERB_LEXICON = """accept accuse achieve acquire act add admit adopt advise affect agree aim allow
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
DOUBLE_FINAL = word_set("""admit ban commit control drop occur permit plan prefer refer ship step
 stop submit transfer travel cancel""")
# Verbs whose trailing date or place belongs to the thing made, bought or won ("X founded Y in
# 1998": Y was founded in 1998), not to the doer.
OBJECT_ATTACH = word_set("""found establish create build launch release publish write paint compose
 design develop invent discover introduce complete open sign sell acquire buy form make produce
 win share award receive record""")
LIST_JOINTS = word_set("and or the a an")
IN_NAME = frozenset((",", "'s", "’s", "&", "-", "–", "$", "€", "£"))
ADJUNCT_PREPS = word_set("in on at during since by")
CLAUSE_PREPS = word_set("after before since by without upon until")
RECIPROCAL = word_set("marry meet merge collaborate partner divorce cooperate compete")
THE = word_set("the its this that")
SAY = word_set("say said says tell told add added argue argued note noted state stated warn warned")
NOT_VERB_ED = word_set("""hundred bed red need seed speed feed shed indeed naked sacred wicked
 beloved kindred wed bred sled fled shred hatred ragged rugged""")
NOT_VERB_ING = word_set("""during morning evening thing nothing something anything everything king
 ring spring string ceiling sibling pudding darling viking wedding according including
 regarding concerning notwithstanding""")

TITLES = word_set("""mr mrs ms miss mx dr prof professor sir dame lord lady president vice prime
 minister chancellor senator sen rep representative congressman congresswoman governor gov mayor
 king queen prince princess emperor empress pope cardinal archbishop bishop rabbi imam reverend
 rev general gen colonel col lieutenant lt captain capt sergeant sgt admiral adm commander judge
 justice chief ceo cfo cto coo chairman chairwoman secretary ambassador attorney deputy foreign
 sheikh coach executive director founder""")
ROLE_WORDS = TITLES | word_set("""senior former head managing analyst economist officer partner
 spokesman spokeswoman spokesperson leader owner editor manager""")
PERSON_NOUNS = word_set("""physicist chemist biologist scientist researcher engineer inventor
 mathematician astronomer economist analyst diplomat politician president senator lawyer judge
 writer author novelist poet playwright journalist painter artist sculptor composer musician
 singer actor actress director producer philosopher historian professor student teacher doctor
 physician surgeon explorer activist entrepreneur founder executive banker investor footballer
 player athlete coach emperor king queen leader spokesman spokeswoman minister chairman ceo
 official rapper designer architect programmer astronaut pilot""")
ORG_NOUNS = word_set("""company firm startup corporation group bank maker manufacturer producer
 retailer carrier airline agency organisation organization university institute charity network
 platform provider developer publisher broadcaster newspaper journal magazine lab laboratory
 conglomerate giant brand chain operator automaker carmaker insurer lender regulator club team
 party union lender insurer""")
LOC_NOUNS = word_set("""city capital town village country nation state province region island river
 mountain peak lake port district county kingdom republic desert""")
# Endings of English words that names hardly have: a capitalised sentence opener ending so is a
# word ("Photosynthesis", "Additive", "Deliberate").
WORD_ENDINGS = tuple(
    word_set("""ly ing ed sis tion sion ment ness ity able ible ive ous ful less ical
 ance ence ism ate ize ise est""")
)
DIRECTIONS = word_set("""north south east west northern southern eastern western central upper lower
 greater inner outer northeast northwest southeast southwest""")
DEMONYM_ENDINGS = ("ese", "ish", "ian", "ean", "ican", "ani", "iot")
NOT_NAME_ENDINGS = tuple(
    word_set("""ous ive ion ity ism ics ment ness logy ing ical ial ary ory ware
 tech sis ed""")
)
DEMONYMS = word_set("""dutch french greek thai swiss welsh irish czech arab inuit basque maori""")

MONTHS = word_set("""january jan february feb march mar april apr may june jun july jul august aug
 september sep sept october oct november nov december dec""")
DAYS = word_set("monday tuesday wednesday thursday friday saturday sunday")
ORDINALS = word_set("""first second third fourth fifth sixth seventh eighth ninth tenth eleventh
 twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth""")
DATE_PREPS = word_set("""in since until till by from during of early late mid last next this before
 after between through to around circa c and or""")
ERAS = word_set("AD BC BCE CE A.D. B.C.")
UNITS = word_set("""km kg m cm mm g lb lbs mph metres meters miles feet ft tons tonnes people
 employees users visitors times hours minutes seconds units cars jobs percent""")

CONNECTORS = word_set("of de da di del della der den van von du la le les y bin ibn al")
ORG_SUFFIX = word_set("""inc incorporated corp corporation co company companies ltd limited llc llp
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
ORG_HEADS = word_set("""university institute bank college academy school agency foundation
 association society council committee commission federation ministry department bureau office
 centers center centre museum hospital laboratory""")
LOC_SUFFIX = word_set("""river sea ocean lake mountains mountain hills hill island islands isles
 peninsula desert valley bay gulf strait straits channel canal coast beach falls canyon forest
 park reef glacier volcano plateau plains basin delta street avenue road boulevard square bridge
 tower memorial monument cathedral palace castle temple mosque abbey airport station stadium
 arena theatre theater house hall heights county province region district territory city town
 village empire kingdom republic emirates""")
LOC_HEADS = word_set("mount mt lake cape isle gulf bay fort port san santa são sao los las")
CONCEPT_SUFFIX = word_set("""war prize award medal cup championship olympics games act treaty accord
 agreement protocol declaration constitution doctrine theory principle effect equation syndrome
 disease virus pandemic revolution crisis symphony sonata concerto telescope engine mission
 program programme project operation festival expo fair conference summit index""")
CONCEPT_HEADS = word_set("treaty battle siege theory declaration war")
NON_ENTITY_ACRONYMS = word_set("""CEO CFO CTO COO TV DVD CD PC USB GPS FAQ PDF AM PM OK ID PR HR IT
 VP MP MD PhD QA FYI ASAP GET POST PUT PATCH DELETE HEAD OPTIONS INFO DEBUG ENV TODO NB PS KB MB
 GB TB KiB MiB GiB TiB""")
CONCEPT_ACRONYMS = word_set("""AI DNA RNA HIV AIDS GDP COVID SARS CPU GPU API SQL HTML HTTP HTTPS
 CSS LED LLM ML NLP IOT VR AR SUV EV IPO ESG JSON XML YAML CSV URL URI UUID JWT TLS SSL SSH TCP UDP
 IP DNS CLI SDK ORM WAL RFC ASCII UTF SSE REST RPC OS RAM SSD LAN VPN IDE UI UX JS""")

GIVEN_NAMES = word_set("""james john robert michael william david richard joseph thomas charles
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

LOCATIONS = phrase_set("""afghanistan|albania|algeria|andorra|angola|argentina|armenia|australia|
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
ORGANIZATIONS = phrase_set("""google|alphabet|apple|microsoft|amazon|meta|facebook|instagram|
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

LOCATIONS_AND_ORGANIZATIONS = {
    **dict.fromkeys(ORGANIZATIONS, ORGANIZATION),
    **dict.fromkeys(LOCATIONS, LOCATION),
}
COMMON = word_set("""about above across act action activity actually add addition administration
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

STARTERS = frozenset(w.capitalize() for w in FUNCTION) | {"I"}
NEVER_SPLIT = word_set("""mr mrs ms dr prof sen rep gov gen col lt sgt capt cmdr adm rev hon pres
 e.g i.e cf vs viz messrs mme mlle""")
ABBREVIATIONS = word_set("""inc ltd co corp bros llc jr sr st mt ft etc al approx dept est fig no
 nos vol pp ed eds jan feb mar apr jun jul aug sep sept oct nov dec ave blvd rd ca""")
