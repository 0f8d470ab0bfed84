// Engine-wide counters of abnormal command endings, shown in the management trees: how many
// commands were aborted (TMF, handler death, teardown) and how many had to be forced out after
// a bound expired because whoever held them never answered.

export const engineStats = {
  abortedCommands: 0,
  stuckCommands: 0,
};
