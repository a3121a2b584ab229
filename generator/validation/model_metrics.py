"""``model_metrics``: each metric control complete, as ``ValidateModelMetrics`` requires."""

from __future__ import annotations

from tritonclient.grpc import model_config_pb2 as mc

from generator.validation.reporter import Reporter

__all__ = ["check_model_metrics"]


def check_model_metrics(config: mc.ModelConfig, r: Reporter) -> None:
    """Every ``metric_control`` needs an identifier with a family and histogram buckets.

    Args:
        config: The config.
        r: Where issues go.
    """
    if not config.HasField("model_metrics"):
        return
    for i, control in enumerate(config.model_metrics.metric_control):
        field = f"model_metrics.metric_control[{i}]"
        if not control.HasField("metric_identifier"):
            r.error(f"{field}.metric_identifier", "metric-control-incomplete",
                    f"metric control {i} has no metric_identifier")
        elif not control.metric_identifier.family:
            r.error(f"{field}.metric_identifier.family", "metric-control-incomplete",
                    f"metric control {i} has an empty family (e.g. "
                    "'nv_inference_request_duration')")
        if not control.HasField("histogram_options"):
            r.error(f"{field}.histogram_options", "metric-control-incomplete",
                    f"metric control {i} has no histogram_options")
        elif len(control.histogram_options.buckets) == 0:
            r.error(f"{field}.histogram_options.buckets", "metric-control-incomplete",
                    f"metric control {i} has no histogram buckets")
