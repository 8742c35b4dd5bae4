"""The registry of pretraining corpora: where each file is published, its place in a mirror, its sha256."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Source:
    """One file of a corpus: where it is published, where it sits in a mirror, and its sha256."""

    url: str
    mirror_path: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.mirror_path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Corpus:
    """A registered corpus.

    `layout` says how to read the downloads: "books", each file is one document (hard-wrapped or
    paragraph-per-line prose); "sentence-archive", a tar of files holding one sentence per line (kept as
    lines, never unwrapped), cut into blocks of LINES_PER_BLOCK lines that act as documents. `text_form`:
    the form its text is in (gpt1.text.forms), into which every text the BPE model encodes is normalised.
    """

    name: str
    description: str
    layout: Literal["books", "sentence-archive"]
    text_form: Literal["raw", "lower-tokenized"]
    sources: tuple[Source, ...] = field(default=())


_NOVELS_URL = (
    "https://raw.githubusercontent.com/fbkarsdorp/python-course/"
    "9bab604c96fcfd00e309051fe9badbcb19ddb61a/data/british-novels/{}.txt"
)
# sha256 of each novel at the pinned commit.
_NOVELS = {
    "ABronte_Agnes": "cfb20af3420e7cda4db8fe50d170ad650b81364bd8455288b13bc88391d3f23d",
    "ABronte_Tenant": "052a28bd9e080ca3012dfbe8f50adab48017de0227ee82817f38db610c577e77",
    "Austen_Emma": "f2c45f46ff689de1ca0880dd7985a3f20caf862071a119955f3651c5ac2c66bb",
    "Austen_Pride": "22758c87eb0254cb9bd5279935c6bf2de00c9301d4d1fc8527de2bced5040977",
    "Austen_Sense": "5d4a7cf4c413e00382e92893b6baca291e26133b2ce00c5a5ab2dd8e2d33cadb",
    "CBronte_Jane": "85debb63733d9978164087b24b7a3fb2e00a026b0c57e52ca29ff5847eb5d4cc",
    "CBronte_Professor": "2078dc5c95056452f438befff624062ef3bfd1191d7c0d7f734035e384f431de",
    "CBronte_Villette": "1767417d26e5323a95bae2586894322e8becb8bb7dbee3b7f830fcbff88aee91",
    "Dickens_Bleak": "6775d584143a797b32590912f77ad15e31784d598a97624b68c21bb0c8a417f2",
    "Dickens_David": "db538424df67d96026aed620b5402664ef078314b152c1fb6ac831f2cd1a4f8d",
    "Dickens_Hard": "8ae56bb747c1aa2e91f7fd2dc1fba47e51b83f2717cdf3065ccbd6c9f4732a5b",
    "Eliot_Adam": "f8d65c60426abc518d794c6fcb0bb66319831a2df110ecafb1967c9d521851ca",
    "Eliot_Middlemarch": "9c46f8cce50bbda71b2ae649f1a2338f6498b94f21f2a81af0608a89efdfa127",
    "Eliot_Mill": "cfbe19d02b87494e9dbcb692e42ac46e1d4ca579e9178137b3b8d077110fc558",
    "Fielding_Joseph": "4dd7512be2eadeafefc76cc355ece52fee09dd5097e1ab8b4585ee7efa2511fa",
    "Fielding_Tom": "05f406eaaee0d83bfabccc0ce6b6eae32792740da32ee515525a57cb6ed4c424",
    "Richardson_Pamela": "2865540ad7e2dbbce0bbc6bd274e8b440283d28631b7dd455e700cacef2990bd",
    "Sterne_Sentimental": "cf1ce1efa4352c56932bd58d9289c0d82cc05cb80d24a0394f10ce4147936d10",
    "Sterne_Tristram": "aad3c6c83497c58b8ff93bdecc22912794ae95b805763448f013afc589c4fe3f",
    "Thackeray_Barry": "1caaeb6a0b6493ddb4816458f9dc2195f1e5ea85374419cf2bdbcd4a80d798dc",
    "Thackeray_Pendennis": "d105724d76b80901af7902002165005a203ffa2aa27c5e1ccdb005d2371789e3",
    "Thackeray_Vanity": "806fd8e33e2693bec4a629cf9b0fd421b87727723f90f618a1beef0c8d94d46b",
    "Trollope_Barchester": "bd79d9c5498b18ef156240377a46841b0760dfef4ebf3ef86a19f4ab7b3228dd",
    "Trollope_Phineas": "f2cfe89b425c1c6090f84ff46aff60d3ecbe11a59a82a5533a51f5321501e964",
    "Trollope_Prime": "9903f53165da38bcea57d5020bfc674ee23582ab3abe5e49159b7cd7cf6512cd",
}

CORPORA: dict[str, Corpus] = {
    "british-novels": Corpus(
        name="british-novels",
        description="25 public-domain British novels of the 18th-19th century (Project Gutenberg texts, "
        "~28 MB), from fbkarsdorp/python-course at a pinned commit; the small stand-in for BooksCorpus",
        layout="books",
        text_form="raw",
        sources=tuple(
            Source(_NOVELS_URL.format(name), f"books/british-novels/{name}.txt", sha256)
            for name, sha256 in _NOVELS.items()
        ),
    ),
    "bookcorpus": Corpus(
        name="bookcorpus",
        description="BooksCorpus replica (Zhu et al. 2015): ~74M sentences from ~11k unpublished books, "
        "lower-cased and tokenized, one sentence per line; 1.18 GB download, 4.9 GB extracted",
        layout="sentence-archive",
        text_form="lower-tokenized",  # as the replica was published: lower-cased, split into words
        # The copy Hugging Face's `datasets` serves as `bookcorpus`: URL and sha256 as recorded in
        # huggingface/datasets, datasets/bookcorpus/dataset_infos.json (download_checksums, 1,179,510,242
        # bytes), e.g. at commit 7737311ffa151c435600b0b486190d515d80949e. The URL carries no revision:
        # the sha256 is the pin.
        sources=(
            Source(
                "https://storage.googleapis.com/huggingface-nlp/datasets/bookcorpus/bookcorpus.tar.bz2",
                "bookcorpus/bookcorpus.tar.bz2",
                "03a29333b2b35e98a375b6ad7d2f1651835655cd348fb89c864136bce69a964c",
            ),
        ),
    ),
    "local": Corpus(
        name="local",
        description="your own directory of UTF-8 .txt files, one document per file (no checksums)",
        layout="books",
        text_form="raw",
    ),
}
