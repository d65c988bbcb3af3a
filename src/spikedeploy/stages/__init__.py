"""The stages: the orchestration floor, just below the command line.

One module per stage, each a frozen options dataclass, one function and a typed result:

=================  ==========================  =====================================
module             function (options)          result
=================  ==========================  =====================================
:mod:`.train`      ``train(TrainOptions)``      ``TrainResult`` (training.loop)
:mod:`.convert`    ``convert(ConvertOptions)``  :class:`~.convert.ConvertResult`
:mod:`.fold`       ``fold(FoldOptions)``        :class:`~.fold.FoldResult`
:mod:`.export`     ``export(ExportOptions)``    :class:`~.export.ExportResult`
:mod:`.lava_run`   ``lava_run(LavaRunOptions)`` :class:`~.lava_run.LavaRunSummary`
:mod:`.lava_run_graded`  ``lava_run_graded(..)``  :class:`~.lava_run_graded.GradedRunSummary`
:mod:`.compare`    ``compare(CompareOptions)``  :class:`~.compare.CompareResult`
:mod:`.pipeline`   ``run_pipeline(PipelineConfig, out)``  :class:`~.pipeline.PipelineResult`
=================  ==========================  =====================================

and :mod:`.baselines` (``baselines(BaselineOptions)``: GRU and LSTM of the models' width,
their accuracy and operations).

The command line (:mod:`spikedeploy.cli`), the Python API (:mod:`spikedeploy.api`) and the
pipeline call the stages; the stages call the libraries below them (data, models, foreign,
training, quant, fold, nir_io, metrics, lava_backend), which never reach back up. Nothing is imported here, so that the command
line can name a stage without loading torch.
"""

#: The pipeline's stage kinds, in order (``spikedeploy pipeline --until`` takes one of them).
STAGES = ("data", "train", "baselines", "fold", "export", "lava", "loihi2", "compare")
