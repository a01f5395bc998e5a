"""The trained sub-models added to message understanding: intervention heads, response cues, context
n-grams of the type model, and the shared-vocabulary multi-head fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.understanding import intervention
from app.understanding.classifier import compile_lexicons, featurise
from app.understanding.lexicon import DEFAULT_LEXICONS, DEFAULT_RESPONSE_WORDS
from app.understanding.linear import LinearModel
from app.understanding.responses import detect_response, response_features
from app.understanding.types import ContextLine, MessageInput


def test_type_features_carry_the_answered_lines_bigrams() -> None:
    lex = compile_lexicons(DEFAULT_LEXICONS)
    item = MessageInput("收到", "user", context=(ContextLine("operator", "拍三条自拍视频"),))
    features = featurise(item, lex)
    assert "ctx2:自拍" in features and "ctx2:视频" in features
    assert not any(f.startswith("ctx2:") for f in featurise(MessageInput("收到", "user"), lex))


def test_response_features_have_cues_and_task_line() -> None:
    ctx = (ContextLine("staff", "@小李 麻烦扫码"),)
    features = response_features("现在不方便 晚点再说吧", ctx, DEFAULT_RESPONSE_WORDS)
    assert {"§refuse_cue", "§neg", "§ctx_role:staff", "§ctx_at", "ctx2:扫码"} <= set(features)
    assert "§ask" in response_features("这个码用微信扫吗", (), DEFAULT_RESPONSE_WORDS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("现在不方便", "refusal"), ("懒得弄 以后再说", "refusal"), ("好的 马上扫", "response")],
)
def test_hesitation_is_a_refusal(text: str, expected: str) -> None:
    ctx = (ContextLine("staff", "@阿芳 您的号掉线了，麻烦扫码重新登录"),)
    assert detect_response(text, True, DEFAULT_RESPONSE_WORDS, ctx)[0] == expected


def test_fit_heads_shares_one_vocabulary_and_reads_heads_separately() -> None:
    from app.understanding.training.fit import fit_heads

    groups = {
        "a": (["甲乙", "甲丙", "丁戊", "丁己"], ["yes", "yes", "no", "no"]),
        "b": (["子丑", "寅卯"], ["no", "yes"]),
    }
    model = fit_heads(groups, lambda text: list(text), c=10.0)
    assert model.classes == ["a:no", "a:yes", "b:no", "b:yes"]
    assert model.weights.shape == (len(model.vocabulary), 4)
    probs = model.probabilities(["甲"], ("a:no", "a:yes"))
    assert set(probs) == {"a:no", "a:yes"} and probs["a:yes"] > 0.5
    assert model.probabilities(["寅"], ("b:no", "b:yes"))["b:yes"] > 0.5


def test_idf_weighted_fit_matches_run_time_scores_and_survives_save(tmp_path: Path) -> None:
    from scipy.sparse import csr_matrix

    from app.understanding.training.fit import fit_linear

    texts = ["甲乙", "甲丙", "甲丁", "戊乙", "戊己"]
    model = fit_linear(texts, ["x", "x", "x", "y", "y"], lambda text: list(text), c=10.0, idf=True)
    assert model.idf is not None
    # "甲" is in 3 of 5 examples, "丙" in 1: the rarer feature weighs more.
    assert model.idf[model.vocabulary["丙"]] > model.idf[model.vocabulary["甲"]]
    # Run-time scores equal the logistic regression's decision on the same normalised row.
    row = np.zeros(len(model.vocabulary))
    for ch in "甲丙":
        row[model.vocabulary[ch]] = model.idf[model.vocabulary[ch]]
    row /= np.linalg.norm(row)
    expected = csr_matrix(row) @ model.weights + model.bias
    assert np.allclose(model.scores(["甲", "丙", "未知"]), np.asarray(expected).ravel(), atol=1e-5)
    model.save(tmp_path / "m.npz")
    loaded = LinearModel.load(tmp_path / "m.npz")
    assert np.allclose(loaded.scores(["甲", "丙"]), model.scores(["甲", "丙"]), atol=1e-6)
    binary = fit_linear(texts, ["x", "x", "x", "y", "y"], lambda text: list(text), c=10.0)
    assert binary.idf is None and LinearModel.load(tmp_path / "m.npz").idf is not None


def test_intervention_heads_fall_back_to_regex_without_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(intervention, "load_intervention_model", lambda: None)
    assert intervention.head_says("own", "我的结算单怎么少了三百")
    assert not intervention.head_says("own", "实名认证要准备什么")
    assert intervention.head_says("distrust", "这就是割韭菜")


def test_intervention_heads_use_the_model_and_the_regex(monkeypatch: pytest.MonkeyPatch) -> None:
    vocab = {"§rx:own": 0, "§rx:distrust": 1, "x": 2}
    weights = np.zeros((3, 4), dtype=np.float32)
    weights[2, 1] = 5.0  # "x" → own:yes
    bias = np.array([0.0, 0.0, 0.0, -5.0], dtype=np.float32)
    model = LinearModel(["own:no", "own:yes", "distrust:no", "distrust:yes"], vocab, weights, bias, {})
    monkeypatch.setattr(intervention, "load_intervention_model", lambda: model)
    monkeypatch.setattr(intervention, "head_features", lambda head, text: list(text))
    assert intervention.head_says("own", "x") and not intervention.head_says("own", "y")
    # distrust: a regex match suffices on its own
    assert intervention.head_says("distrust", "骗子") and not intervention.head_says("distrust", "y")


def test_shipped_intervention_model_loads() -> None:
    path: Path = intervention.MODEL_PATH
    if not path.exists():
        pytest.skip("model not built")
    model = LinearModel.load(path)
    assert {"own:yes", "own:no", "distrust:yes", "distrust:no"} <= set(model.classes)


def test_type_model_keeps_one_model_per_sender_category(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.understanding import classifier
    from app.understanding.training.fit import fit_linear
    from app.understanding.types import TYPES_BY_CATEGORY

    lex = compile_lexicons(DEFAULT_LEXICONS)
    texts = {
        "user": [
            ("扫码登不上", "chat_after_sales"),
            ("视频发了", "chat_cooperation"),
            ("早上好", "chat_daily"),
        ],
        "staff": [("@小李 麻烦扫码", "staff_at_user"), ("收到", "staff_other")],
        "operator": [("今天拍三条", "operator_assign_user"), ("再不发就扣钱", "operator_tone_hard")],
    }
    model = classifier.TypeModel(
        {
            category: fit_linear(
                [MessageInput(t, category) for t, _ in rows],
                [label for _, label in rows],
                lambda m: featurise(m, lex),
                c=10.0,
                idf=True,
            )
            for category, rows in texts.items()
        }
    )
    monkeypatch.setattr(classifier, "MODEL_DIR", tmp_path)
    assert sorted(p.name for p in model.save()) == ["types-operator.npz", "types-staff.npz", "types-user.npz"]
    loaded = classifier.TypeModel.load()
    assert loaded is not None and set(loaded.by_category) == {"user", "staff", "operator"}
    # The staff model never offers a user type, whatever the text says.
    staff = classifier.classify(MessageInput("扫码登不上", "staff"), lex, loaded)
    assert staff.type in TYPES_BY_CATEGORY["staff"]
    assert classifier.classify(MessageInput("扫码登不上", "user"), lex, loaded).type == "chat_after_sales"
    (tmp_path / "types-staff.npz").unlink()
    assert classifier.TypeModel.load() is None  # incomplete set → rules only


def test_shipped_type_models_cover_each_categorys_types() -> None:
    from app.understanding.classifier import TypeModel
    from app.understanding.types import TYPES_BY_CATEGORY

    model = TypeModel.load()
    assert model is not None, "run make train"
    for category, types in TYPES_BY_CATEGORY.items():
        assert sorted(model.by_category[category].classes) == sorted(types)


def test_label_agreement_study_counts_only_train_rows_and_scores_chance_corrected() -> None:
    from app.understanding.corpus.agreement import cohen_kappa, study

    corpus = [
        {"id": "c1", "type": "chat_daily", "sentiment": "neutral", "sender_role": "user", "split": "train"},
        {"id": "c2", "type": "chat_other", "sentiment": "neutral", "sender_role": "user", "split": "train"},
        {"id": "c3", "type": "staff_other", "sentiment": "neutral", "sender_role": "staff", "split": "test"},
    ]
    labels = [
        {"id": "c1", "type": "chat_daily", "sentiment": "positive", "annotator": "A"},
        {"id": "c2", "type": "chat_daily", "sentiment": "neutral", "annotator": "B"},
    ]
    report = study(labels, corpus)
    assert report["type"] == 0.5 and report["sentiment"] == 0.5
    assert report["by_annotator"] == {"A": (1.0, 1), "B": (0.0, 1)}
    assert report["confusions"] == {("chat_other", "chat_daily"): 1}
    assert cohen_kappa([("a", "a"), ("b", "b")]) == 1.0
    assert cohen_kappa([("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]) == 0.0
    with pytest.raises(SystemExit):
        study([{"id": "c3", "type": "staff_other", "sentiment": "neutral", "annotator": "A"}], corpus)


def test_the_shipped_agreement_study_holds_train_rows_with_valid_labels() -> None:
    from app.understanding.corpus import CORPUS_PATH, read_jsonl
    from app.understanding.corpus.agreement import AGREEMENT_PATH, study
    from app.understanding.types import TYPES_BY_CODE

    labels = read_jsonl(AGREEMENT_PATH)
    assert len(labels) == len({r["id"] for r in labels}) >= 900
    assert all(r["type"] in TYPES_BY_CODE for r in labels)
    assert all(r["sentiment"] in ("negative", "neutral", "positive") for r in labels)
    assert study(labels, read_jsonl(CORPUS_PATH))["type"] > 0.8


def test_response_only_rows_are_valid_open_task_answers_that_the_response_model_trains_on() -> None:
    from app.understanding.corpus import CORPUS_PATH, EXTRA_TRAIN_PATH, read_jsonl, response_training_rows
    from app.understanding.corpus.check import problems
    from app.understanding.training.train_responses import fit_response_model

    rows = response_training_rows()
    assert len(rows) >= 300
    assert all(r["open_task"] and r["sender_role"] == "user" and r["split"] == "train" for r in rows)
    assert not [(r["id"], p) for r in rows if (p := problems(r))]
    ids = {r["id"] for r in rows}
    assert len(ids) == len(rows)
    assert not ids & {r["id"] for path in (CORPUS_PATH, EXTRA_TRAIN_PATH) for r in read_jsonl(path)}
    assert fit_response_model([]).meta["examples"] == len(rows)


def test_cross_validation_can_leave_out_training_rows_that_paraphrase_a_scored_row() -> None:
    from app.understanding.training.cv import near_training_rows

    scored = [
        {"id": "c1", "text": "二维码过期了 扫不上怎么办"},
        {"id": "c2", "text": "今天天气真好 出去玩了"},
    ]
    training_only = [
        {"id": "x1", "text": "二维码又过期了 扫不上咋办"},  # a paraphrase of c1: Jaccard 7/15
        {"id": "x2", "text": "作品什么时候发"},
        {"id": "x3", "text": "@小王 今天天气真好"},  # @name ignored: Jaccard 5/9 with c2
    ]
    assert near_training_rows(scored, training_only, 0.5) == {"c2": {"x3"}}
    assert near_training_rows(scored, training_only, 0.45) == {"c1": {"x1"}, "c2": {"x3"}}
    assert near_training_rows(scored, training_only, 1.01) == {}


def test_response_model_takes_an_explicit_subset_of_the_response_only_rows() -> None:
    from app.understanding.corpus import response_training_rows
    from app.understanding.training.train_responses import fit_response_model

    subset = response_training_rows()[:40]
    assert fit_response_model([], subset).meta["examples"] == len(subset)
