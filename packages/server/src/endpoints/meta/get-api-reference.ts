import { getApiReference } from '@opencvm/contract';
import { route } from '../../http/endpoint.ts';

/** Swagger UI over `/api/v1/openapi.json`, its assets served by this server (nothing is fetched from elsewhere). */
const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>opencvm API reference</title>
  <link rel="stylesheet" href="./docs/swagger-ui.css">
</head>
<body>
  <div id="reference"></div>
  <script src="./docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: './openapi.json', dom_id: '#reference', deepLinking: true });
  </script>
</body>
</html>
`;

export default route(getApiReference, async ({ reply }) => {
  reply.type('text/html; charset=utf-8');
  return PAGE;
});
