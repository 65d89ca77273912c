"""The ratings database (SQLAlchemy: SQLite by default, any SQLAlchemy URL such as PostgreSQL): raters, their
sessions, the questions and anonymised answers to rate, and every rating with its rater, time, hidden model
identity and the exact answer text. It lives with the human-rating statistics because both the rating page
(`serve`, which writes it) and `python -m judging.human` (which reads it) need it, and the pipeline's packages
import only earlier ones.

Secrets are stored only as SHA-256 digests: a rater's token and a session id are 32 random bytes, so a plain
digest is enough (nothing to brute-force), and a leaked database signs nobody in.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from common.errors import InputError
from judging.rubric import SCORE_MAX, SCORE_MIN, Rubric

CRITERIA = tuple(Rubric().criteria)  # relevance 0.45, grammar 0.20, structure 0.20, style 0.15
SESSION_DAYS = 7
# A generous bound on anything a page or CSV puts in the database; the API's own limits are tighter.
MAX_TEXT_CHARS = 20_000


def default_url() -> str:
    return f"sqlite:///{Path.cwd() / 'ratings.db'}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Rater(Base):
    __tablename__ = "raters"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class LoginSession(Base):
    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    id_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Question(Base):
    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("search", "source", "text"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    search: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))  # judge-set | csv
    item_id: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("question_id", "model"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    # What a page shows instead of `id`: random, so neither its value nor its order says which model wrote it.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: secrets.token_hex(12))
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    model: Mapped[str] = mapped_column(String(200))  # base | knee | trial-<id>: hidden from raters
    run_id: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text)


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("answer_id", "rater_id"),
        *(CheckConstraint(f"{c} BETWEEN {SCORE_MIN} AND {SCORE_MAX}", name=f"{c}_on_scale") for c in CRITERIA),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id"))
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"))
    relevance: Mapped[int] = mapped_column(Integer)
    grammar: Mapped[int] = mapped_column(Integer)
    structure: Mapped[int] = mapped_column(Integer)
    style: Mapped[int] = mapped_column(Integer)
    overall: Mapped[float] = mapped_column(Float)  # the rubric's weighted mean of the four
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Skip(Base):
    __tablename__ = "skips"
    __table_args__ = (UniqueConstraint("question_id", "rater_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class RatingStore:
    """One database; every method is one short transaction, so concurrent raters (threads or processes) never
    see each other's half-written work."""

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        try:
            self.engine = _engine(self.url)
            Base.metadata.create_all(self.engine)
        except ArgumentError:
            raise InputError("--ratings-db", None, "not a valid SQLAlchemy database URL") from None
        except Exception as err:
            raise InputError(
                "--ratings-db", None, f"the ratings database cannot be opened ({type(err).__name__})"
            ) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as db:
            yield db

    # Raters and sign-in

    def add_rater(self, name: str) -> str:
        """Creates the rater; returns the token, shown once and stored only as its digest."""
        token = new_secret()
        try:
            with self.session() as db:
                db.add(Rater(name=name, token_sha256=digest(token)))
        except IntegrityError:
            raise InputError("raters", "name", f"a rater named {name!r} exists already") from None
        return token

    def deactivate_rater(self, name: str) -> None:
        with self.session() as db:
            rater = db.scalar(select(Rater).where(Rater.name == name))
            if rater is None:
                raise InputError("raters", "name", f"no rater named {name!r}")
            rater.active = False

    def raters(self) -> list[tuple[str, bool]]:
        with self.session() as db:
            return [(r.name, r.active) for r in db.scalars(select(Rater).order_by(Rater.name))]

    def sign_in(self, token: str) -> str | None:
        """A new session id for an active rater's token, or None."""
        with self.session() as db:
            rater = db.scalar(select(Rater).where(Rater.token_sha256 == digest(token), Rater.active))
            if rater is None:
                return None
            session_id = new_secret()
            expires = _now() + timedelta(days=SESSION_DAYS)
            db.add(LoginSession(id_sha256=digest(session_id), rater_id=rater.id, expires_at=expires))
            return session_id

    def rater_of_session(self, session_id: str) -> tuple[int, str] | None:
        with self.session() as db:
            row = db.execute(
                select(Rater.id, Rater.name, LoginSession.expires_at)
                .join(LoginSession, LoginSession.rater_id == Rater.id)
                .where(LoginSession.id_sha256 == digest(session_id), Rater.active)
            ).first()
        if row is None or _aware(row.expires_at) < _now():
            return None
        return row.id, row.name

    def sign_out(self, session_id: str) -> None:
        with self.session() as db:
            session = db.scalar(select(LoginSession).where(LoginSession.id_sha256 == digest(session_id)))
            if session is not None:
                db.delete(session)

    # Questions and answers

    def add_question(
        self, search: str, source: str, item_id: str, text: str, answers: dict[str, tuple[str, str]]
    ) -> bool:
        """One question with its answers by model (model -> (run id, text)); False if it was there already."""
        try:
            with self.session() as db:
                question = Question(search=search, source=source, item_id=item_id, text=text[:MAX_TEXT_CHARS])
                db.add(question)
                db.flush()
                for model, (run_id, answer) in answers.items():
                    db.add(Answer(question_id=question.id, model=model, run_id=run_id, text=answer[:MAX_TEXT_CHARS]))
        except IntegrityError:
            return False
        return True

    def next_question(self, search: str, rater_id: int) -> tuple[Question, list[Answer]] | None:
        """The search's first question this rater has neither rated nor skipped."""
        with self.session() as db:
            rated = (
                select(Answer.question_id)
                .join(Rating, Rating.answer_id == Answer.id)
                .where(Rating.rater_id == rater_id)
            )
            skipped = select(Skip.question_id).where(Skip.rater_id == rater_id)
            question = db.scalar(
                select(Question)
                .where(Question.search == search, Question.id.not_in(rated), Question.id.not_in(skipped))
                .order_by(Question.id)
                .limit(1)
            )
            if question is None:
                return None
            answers = list(db.scalars(select(Answer).where(Answer.question_id == question.id).order_by(Answer.id)))
            return question, answers

    def progress(self, search: str, rater_id: int) -> tuple[int, int]:
        """(the search's questions this rater has rated or skipped, its questions in all)."""
        with self.session() as db:
            questions = set(db.scalars(select(Question.id).where(Question.search == search)))
            rated = set(
                db.scalars(
                    select(Answer.question_id)
                    .join(Rating, Rating.answer_id == Answer.id)
                    .where(Rating.rater_id == rater_id)
                )
            )
            skipped = set(db.scalars(select(Skip.question_id).where(Skip.rater_id == rater_id)))
        return len((rated | skipped) & questions), len(questions)

    def answers_of(self, question_id: int) -> list[Answer]:
        with self.session() as db:
            return list(db.scalars(select(Answer).where(Answer.question_id == question_id)))

    def save_ratings(self, rater_id: int, question_id: int, scores: dict[str, dict[str, int]]) -> int:
        """Ratings of one question's answers (public answer id -> criterion -> 1-5) in one transaction; a repeat
        (double submit, two tabs) keeps the first. Returns how many were new."""
        rubric = Rubric()
        with self.session() as db:
            answers = {a.public_id: a for a in db.scalars(select(Answer).where(Answer.question_id == question_id))}
            if set(scores) != set(answers):
                raise ValueError("the ratings do not cover exactly this question's answers")
            done = set(
                db.scalars(
                    select(Rating.answer_id).where(
                        Rating.rater_id == rater_id, Rating.answer_id.in_([a.id for a in answers.values()])
                    )
                )
            )
            fresh = [
                Rating(
                    answer_id=answers[public].id,
                    rater_id=rater_id,
                    overall=rubric.overall({c: float(v) for c, v in values.items()}),
                    **{c: values[c] for c in CRITERIA},
                )
                for public, values in scores.items()
                if answers[public].id not in done
            ]
            db.add_all(fresh)
        return len(fresh)

    def skip(self, rater_id: int, question_id: int) -> None:
        try:
            with self.session() as db:
                if db.get(Question, question_id) is None:
                    raise ValueError("no such question")
                db.add(Skip(question_id=question_id, rater_id=rater_id))
        except IntegrityError:
            pass  # skipped already (double click): nothing to add

    def ratings_frame(self, search: str | None = None) -> pd.DataFrame:
        """Every rating, one row each: rater, time, the model (hidden on the page), question and exact answer."""
        query = (
            select(
                Rater.name.label("rater"),
                Rating.created_at.label("rated_at"),
                Question.search,
                Question.source,
                Question.item_id,
                Question.text.label("question"),
                Answer.model,
                Answer.run_id,
                Answer.text.label("answer"),
                *(getattr(Rating, c) for c in CRITERIA),
                Rating.overall,
            )
            .join(Answer, Rating.answer_id == Answer.id)
            .join(Question, Answer.question_id == Question.id)
            .join(Rater, Rating.rater_id == Rater.id)
            .order_by(Rating.id)
        )
        if search is not None:
            query = query.where(Question.search == search)
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(query).mappings().all(), columns=[c.name for c in query.selected_columns])


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(connection, _record) -> None:
        # WAL lets readers go on while a rater's transaction writes; busy_timeout makes a second writer wait
        # instead of failing with "database is locked".
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone=True columns; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
