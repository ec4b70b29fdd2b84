"""Input validation shared by every estimator (skdeepclust.utils._sklearn_compat)."""

import numpy as np
import pytest

from skdeepclust.utils import all_estimators

pd = pytest.importorskip("pandas")


def _frame():
    rng = np.random.RandomState(0)
    return pd.DataFrame({
        "age": rng.uniform(20, 60, 12),
        "city": ["Lyon", "Paris", "Nice", "Lyon"] * 3,
        "income": rng.uniform(1, 5, 12),
    })


@pytest.mark.parametrize("name, cls", all_estimators())
def test_a_column_of_strings_is_named_in_the_error(name, cls):
    y = np.arange(12) % 2
    with pytest.raises(ValueError) as exc:
        cls().fit(_frame(), y)
    message = str(exc.value)
    assert message.startswith(f"{name} needs numeric input")
    assert "column 'city' holds strings ('Lyon', 'Paris', 'Nice')" in message
    assert "'age'" not in message and "'income'" not in message
    assert "OneHotEncoder" in message


def test_strings_in_arrays_are_named_by_position_and_numbers_in_text_pass():
    from skdeepclust.preprocessing import ZCA

    X = np.array([[1.0, "a", "2.5"], [2.0, "b", "3"], [3.0, "a", "1"], [4.0, "c", "0"]],
                 dtype=object)
    with pytest.raises(ValueError, match=r"column 1 holds strings \('a', 'b', 'c'\); "
                                         r"encode it first"):
        ZCA().fit(X)
    ZCA().fit(X[:, [0, 2]])  # numbers written as text convert, as in scikit-learn


def test_several_columns_and_predict_time_errors_are_named():
    from skdeepclust.preprocessing import ZCA

    frame = _frame()
    frame["code"] = ["x1", "x2", "x3", "x4", "x5", "x6"] * 2
    with pytest.raises(ValueError, match=r"column 'city' holds strings .*; column 'code' "
                                         r"holds strings \('x1', 'x2', 'x3', \.\.\.\); "
                                         r"encode them first"):
        ZCA().fit(frame)
    zca = ZCA().fit(frame[["age", "income"]])
    with pytest.raises(ValueError, match="column 'age' holds strings"):
        zca.transform(frame[["age", "income"]].assign(age="old"))
