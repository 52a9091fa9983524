// The dashboard is drawn server-side; this keeps it current: the round's progress bar live, and the
// totals, charts and round history rendered again by the server on each new version (panels.js).
import { followProject, readConfig } from "./labeling.js";
import { followPanels } from "./panels.js";

const config = readConfig();
followProject(config, { onVersion: () => {} });
followPanels(config.slug);
document.body.dataset.ready = "1";
