"""JSONPath data flow: InputPath, Parameters, ResultSelector, ResultPath, OutputPath, $$."""

import pytest

from sandlot.services.stepfunctions.asl.paths import MISSING, PathError, compile_path

from .fake import machine, run

STORE = {
    "store": {
        "book": [
            {"category": "reference", "author": "Nigel Rees", "price": 8.95},
            {"category": "fiction", "author": "Evelyn Waugh", "price": 12.99},
            {"category": "fiction", "author": "Herman Melville", "price": 8.99, "isbn": "0-5"},
        ],
        "bicycle": {"color": "red", "price": 19.95},
    }
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", STORE),
        ("$.store.bicycle.color", "red"),
        ("$['store']['bicycle']['price']", 19.95),
        ("$.store.book[1].author", "Evelyn Waugh"),
        ("$.store.book[-1].price", 8.99),
        ("$.store.book[*].author", ["Nigel Rees", "Evelyn Waugh", "Herman Melville"]),
        ("$..author", ["Nigel Rees", "Evelyn Waugh", "Herman Melville"]),
        ("$.store.book[0:2].price", [8.95, 12.99]),
        ("$.store.book[0,2].price", [8.95, 8.99]),
        ("$.store.book[?(@.price < 10)].author", ["Nigel Rees", "Herman Melville"]),
        ("$.store.book[?(@.isbn)].author", ["Herman Melville"]),
        ("$.store.book[?(@.category == 'fiction' && @.price > 10)].author", ["Evelyn Waugh"]),
        ("$.nothing[*]", []),
    ],
)
def test_path_evaluation(path, expected):
    assert compile_path(path).get(STORE) == expected


def test_definite_path_that_matches_nothing_is_missing():
    assert compile_path("$.store.car").get(STORE) is MISSING
    assert compile_path("$.store.book[7]").get(STORE) is MISSING


@pytest.mark.parametrize("bad", ["store", "$.", "$[", "$.a[?(@.x ~ 1)]", "$..", "$.a b"])
def test_invalid_paths(bad):
    with pytest.raises(PathError):
        compile_path(bad)


@pytest.mark.parametrize("bad", ["$..a", "$.a[*]", "$.a[0:1]", "$.a[?(@.b)]"])
def test_reference_paths_refuse_indefinite_steps(bad):
    with pytest.raises(PathError):
        compile_path(bad, reference=True)


AWS_INPUT = {
    "comment": "Example for InputPath.",
    "dataset1": {"val1": 1, "val2": 2, "val3": 3},
    "dataset2": {"val1": "a", "val2": "b", "val3": "c"},
}


def test_input_path_selects_part_of_the_input():
    # AWS docs, "InputPath": InputPath "$.dataset2" hands only that object on.
    result, _ = run(machine({"P": {"Type": "Pass", "InputPath": "$.dataset2", "End": True}}),
                    AWS_INPUT)  # fmt: skip
    assert result.output == {"val1": "a", "val2": "b", "val3": "c"}


def test_parameters_with_paths_context_and_static_values():
    result, _ = run(
        machine(
            {
                "P": {
                    "Type": "Pass",
                    "Parameters": {
                        "comment": "Selecting what I care about.",
                        "MyDetails": {"size.$": "$.product.details.size", "exists.$": "$.product.availability",
                                      "StaticValue": "foo"},
                        "execution.$": "$$.Execution.Id",
                        "state.$": "$$.State.Name",
                    },
                    "End": True,
                }
            }
        ),
        {"product": {"details": {"color": "blue", "size": "small"}, "availability": "in stock"}},
    )  # fmt: skip
    assert result.output == {
        "comment": "Selecting what I care about.",
        "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"},
        "execution": "arn:aws:states:us-east-1:123456789012:execution:sm:run-1",
        "state": "P",
    }


def test_result_path_variants():
    source = {"comment": "A test", "details": "Default example", "who": "AWS Step Functions"}
    hello = {"arn:aws:lambda:::function:hello": lambda a: f"Hello, {a['who']}!"}

    def task(**extra):
        return machine({"T": {"Type": "Task", "Resource": "arn:aws:lambda:::function:hello",
                              "End": True, **extra}})  # fmt: skip

    assert run(task(), source, hello)[0].output == "Hello, AWS Step Functions!"
    assert run(task(ResultPath="$"), source, hello)[0].output == "Hello, AWS Step Functions!"
    assert run(task(ResultPath=None), source, hello)[0].output == source
    assert run(task(ResultPath="$.taskresult"), source, hello)[0].output == {
        **source,
        "taskresult": "Hello, AWS Step Functions!",
    }
    # Missing objects on the way are created; existing siblings are kept.
    assert run(task(ResultPath="$.a.b.c"), {"a": {"x": 1}}, {
        "arn:aws:lambda:::function:hello": lambda a: 5})[0].output == {"a": {"x": 1, "b": {"c": 5}}}  # fmt: skip


def test_result_path_into_a_non_object_is_states_runtime():
    result, _ = run(
        machine({"P": {"Type": "Pass", "Result": 1, "ResultPath": "$.a.b", "End": True}}),
        {"a": "text"},
    )
    assert result.error == "States.Runtime"
    assert "Unable to apply ResultPath" in result.cause


def test_result_selector_and_output_path():
    handlers = {"arn:aws:lambda:::function:f": lambda a: {"Payload": {"n": 3}, "StatusCode": 200}}
    result, _ = run(
        machine({"T": {"Type": "Task", "Resource": "arn:aws:lambda:::function:f",
                       "ResultSelector": {"n.$": "$.Payload.n", "code.$": "$.StatusCode"},
                       "ResultPath": "$.out", "OutputPath": "$.out", "End": True}}),
        {"x": 1},
        handlers,
    )  # fmt: skip
    assert result.output == {"n": 3, "code": 200}


def test_input_path_null_gives_empty_object_and_output_path_null():
    result, _ = run(machine({"P": {"Type": "Pass", "InputPath": None, "End": True}}), {"a": 1})
    assert result.output == {}
    result, _ = run(machine({"P": {"Type": "Pass", "OutputPath": None, "End": True}}), {"a": 1})
    assert result.output == {}


def test_missing_input_path_fails_with_aws_message():
    result, _ = run(machine({"P": {"Type": "Pass", "InputPath": "$.x", "End": True}}), {"a": 1})
    assert result.status == "FAILED"
    assert result.error == "States.Runtime"
    assert result.cause == (
        "An error occurred while executing the state 'P' (entered at the event id #2). "
        "The JSONPath '$.x' specified for the field 'InputPath' could not be found in the "
        "input '{\"a\":1}'"
    )


def test_missing_parameters_path_names_the_field():
    result, _ = run(
        machine({"P": {"Type": "Pass", "Parameters": {"v.$": "$.nope"}, "End": True}}), {}
    )
    assert result.error == "States.Runtime"
    assert "The JSONPath '$.nope' specified for the field 'v.$' could not be found" in result.cause


def test_indefinite_parameter_path_yields_a_list():
    result, _ = run(
        machine({"P": {"Type": "Pass", "Parameters": {"cheap.$": "$.store.book[?(@.price < 9)].price"},
                       "End": True}}),
        STORE,
    )  # fmt: skip
    assert result.output == {"cheap": [8.95, 8.99]}
