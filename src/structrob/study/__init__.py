"""A resumable study: plan -> units run by workers -> SQLite store -> analysis -> report.

One module per concept:

- :mod:`~structrob.study.config`: the settings (TOML, presets, ``--set``) and their hash;
- :mod:`~structrob.study.records`: the typed records passed from plan to units to store;
- :mod:`~structrob.study.plan`: graph sampling and the units of work;
- :mod:`~structrob.study.attack_setup`: the attacks built from their settings;
- :mod:`~structrob.study.units`: running one unit (train, attack, graph properties);
- :mod:`~structrob.study.executors`: where units run (in process, a process pool, Ray);
- :mod:`~structrob.study.store`: the SQLite store, all of the study's SQL;
- :mod:`~structrob.study.runner`: the driver (check the settings, plan, run, store);
- :mod:`~structrob.study.analysis`: reading a study: the correlations (and, re-exported,
  what the next two hold);
- :mod:`~structrob.study.progress`: how far a study got (progress, status);
- :mod:`~structrob.study.exports`: the flat tables, the report and the trained models;
- :mod:`~structrob.study.errors`, :mod:`~structrob.study.lock`,
  :mod:`~structrob.study.interrupt`, :mod:`~structrob.study.files`: what keeps a study whole
  (its errors, one driver per directory, SIGINT/SIGTERM, atomic files); see
  ``docs/reliability.md``.

A study has two arms (:data:`structrob.vocabulary.ARMS`): ``"prior"``, networks built from
sampled graph priors, and ``"pruning"``, the random-pruning baseline.
"""
